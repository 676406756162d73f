// Package mtlsauth turns a client certificate verified by a mutual-TLS
// listener into the request's identity: a configured common name, DNS SAN
// or URI SAN (a SPIFFE ID, say) maps to a principal and roles.
//
// Why a filter rather than listener settings: which certificate may call
// which route is policy, like any other credential, and it composes with
// rbac the same way API keys and tokens do. The listener (tls.client_ca)
// only proves the certificate chains to a trusted CA.
//
// Refusals are 403: a TLS client certificate has no HTTP challenge to
// answer a 401 with, and the client cannot fix it by retrying the request.
package mtlsauth
