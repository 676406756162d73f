// Package jwtauth is the bearer-token authentication filter: it verifies
// a JWT (RFC 7519) in its JWS compact serialization (RFC 7515), turns it
// into the request's Identity, forwards that identity upstream in headers
// the client cannot forge, or refuses the request with a precise, stable
// reason.
//
// Why a filter of its own, and why it parses tokens by hand: every
// protected request passes through here, so the common case — a token the
// proxy has already seen — must cost two keyed hashes and a few atomic
// loads, with no allocation, and the uncommon case must cost little more
// than the signature check itself. General JOSE libraries decode headers
// and claims into maps; this package scans the handful of members it needs
// (alg, kid, iss, sub, aud, exp, nbf, iat, the configured roles and tenant
// paths) straight from the decoded bytes, in pooled buffers.
//
// Verification follows RFC 8725 (JWT Best Current Practices):
//
//   - Accepted algorithms are RS256/384/512 and PS256/384/512 (RFC 7518
//     §3.3, §3.5), ES256/384 (§3.4) and EdDSA with Ed25519 (RFC 8037);
//     HS256/384/512 (§3.2) only for an issuer configured with a shared
//     secret. The key decides the algorithm family, never the token, so a
//     public key can never be used as an HMAC secret; "none" is refused.
//   - Keys come from a JWK Set (RFC 7517) in a file, at an https URL, or
//     found through OpenID Connect Discovery. The set is refreshed in the
//     background on an interval and, rate limited, on an unknown kid; a
//     failed refresh keeps the last good set. Tokens naming keys by jwk,
//     jku, x5u or x5c, or carrying crit, are refused: keys are never taken
//     from the token.
//   - Claims: iss selects one of the configured issuers; aud must name one
//     of its audiences; exp is required; exp, nbf and iat are checked with
//     a configurable leeway (RFC 7519 §4.1); sub is required unless
//     allow_no_subject; require_claims adds presence, exact-value and
//     one-of checks on any claim, each refusal naming its claim.
//   - Scopes (scope, RFC 8693 §4.2, and scp) become Identity.Scopes bits,
//     looked up in the configuration's scope table when a token is
//     verified — after every filter is built, so filter order does not
//     matter — and cached with the token.
//   - A token naming another principal than an API key or a client
//     certificate verified by an earlier filter is refused (400 authn.conflicting_credentials) and
//     attributed to no one.
//
// Invariants:
//
//   - Handle never blocks, allocates on the success or early-refusal paths,
//     keeps the exchange, or starts goroutines. The only goroutines are the
//     key refreshers, started by New and stopped by Close.
//   - Identity headers (X-Auth-Subject and friends) are removed from every
//     request before anything else, so an upstream can trust them.
//   - The verified-token cache is bounded, honours exp, and forgets tokens
//     whose key left the issuer's key set.
//   - A refusal records, flagged unverified, only hints: the claimed issuer,
//     the kid and a SHA-256 prefix of sub, never the token.
//
// Missing credentials get 401 with a bare "WWW-Authenticate: Bearer"
// challenge (RFC 6750 §3.1); invalid tokens get 401 with error="invalid_token"
// and a description; every refusal has a problem+json body (RFC 9457)
// naming its reason code.
package jwtauth
