// Package apikey is Tollgate's API-key authentication filter: it turns a
// static key presented by a machine client into a verified principal
// (subject, roles, tenant) on the exchange, for the rbac filter and the
// audit log.
//
// Why keys are configured as SHA-256 hashes: the config file is read by
// people and tools, copied into repositories and shown by `tollgate
// explain`; a hash there lets the proxy recognise a key without anyone who
// reads the config being able to use it. Keys are random high-entropy
// secrets, so a fast unsalted hash is enough — there is nothing to brute
// force that a slow hash would protect (unlike passwords).
//
// Why a hash-keyed map is still a constant-time comparison: the presented
// key is hashed, and the map is keyed by the hash, never by the secret.
// Whatever timing a map probe leaks is about SHA-256 outputs, and steering
// an input's hash towards a stored hash is a preimage search; the entry
// found is then confirmed with crypto/subtle.ConstantTimeCompare. The key
// is read from a configurable header (X-API-Key by default) or from
// "Authorization: ApiKey <key>" (the scheme case-insensitive, RFC 9110
// §11.1).
//
// Invariants: the key never reaches the upstream (stripped by default) and
// never reaches logs — a refused key is recorded only as the first 8 bytes
// of its hash, hex, flagged unverified; identity headers sent by the client
// (X-Auth-Subject …) are removed before the verified ones are set; a
// missing key on a required route is 401 authn.key_missing, an unknown one
// 401 authn.key_invalid, both with an ApiKey challenge (RFC 9110 §11.6.1);
// a key that is present is checked even on an optional route. Handle does
// not allocate.
//
// Chaining "JWT or API key": list jwtauth with optional: true, then apikey
// with optional: true, then rbac. A request with a valid bearer token is
// verified by jwtauth; one without a token may present a key instead; one
// with neither reaches rbac unauthenticated and is answered 401
// authn.required. A key sent along with a verified token is still checked
// and must name the same principal (subject and tenant): two valid
// credentials naming different principals are refused with 400
// authn.conflicting_credentials and recorded with no principal, because
// which one the request acts for would be the client's choice. A route
// whose key is a second credential on purpose (an application key beside
// a user's token) sets second_factor: true; the token's identity is kept.
package apikey
