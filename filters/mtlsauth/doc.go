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
//
// A certificate and a bearer token (or an API key) on one request are two
// credentials, and the rule for API keys applies: when both are valid and
// name different principals (subject or tenant), the request is refused
// with 400 authn.conflicting_credentials and recorded with no principal,
// whichever filter runs first. Otherwise the principal would be chosen by
// the filter order, or mixed (one credential's subject with the other's
// roles). A route where the certificate names the calling workload and
// the token the user on whose behalf it calls lists mtlsauth after the
// token filter with second_factor: true: the certificate must still be
// valid and mapped, and the token's identity is the request's. Listed
// before the token filter, a certificate is the request's principal and a
// token for anyone else is refused (the token filter checks).
package mtlsauth
