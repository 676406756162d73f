// Package introspect is the opaque-token authentication filter: it asks an
// OAuth 2.0 authorization server whether a bearer token is active, using
// Token Introspection (RFC 7662), turns the answer into the request's
// Identity, forwards that identity upstream in headers the client cannot
// forge, or refuses the request with a precise, stable reason.
//
// Why a filter of its own: an opaque token (a random reference, not a JWT)
// carries nothing the proxy can check by itself; only its issuer knows
// what it means. Asking on every request would put the authorization
// server's latency and availability on every API call, so the answers are
// cached, and the cache — not the server — is the common case.
//
// The one place this filter blocks. Filters must not block, but a token
// the cache does not know can only be judged by asking the server. Handle
// therefore makes that call on the request's goroutine, bounded by a
// short timeout (2s by default) — what Kong's and oauth2-proxy's
// introspection do. The fasthttp engine runs a goroutine per connection,
// so a waiting request holds only its own goroutine; MayBlock tells an
// event-loop engine that the filter may wait, and TryHandle
// (filters.Waiter) lets it answer a cache hit on its loop and leave the
// loop only for a miss. The alternatives —
// refusing the first request and introspecting in the background, or
// parking the request — either fail correct clients or need an
// asynchronous verdict the filter seam does not have.
//
// What keeps the blocking rare and bounded:
//
//   - A result cache: sharded (set-associative, lock-free reads), bounded,
//     keyed by 128 bits of keyed hash of the raw token — never the token.
//     An active token is remembered until its exp, never longer than
//     cache.max_ttl (5m), so a revoked token is refused again within
//     max_ttl. A refused token (inactive, expired, wrong audience) is
//     remembered for cache.negative_ttl (10s), so a flood of one garbage
//     token costs one call. A cache hit, accepted or refused, does not
//     allocate.
//   - Singleflight: concurrent requests presenting the same unknown token
//     share one call to the server.
//   - max_concurrent bounds the calls in flight; beyond it, and on any
//     server failure (timeout, connection error, non-200 status, invalid
//     response), the filter fails closed with 503
//     authn.introspection_unavailable and Retry-After. Failures are not
//     cached: the next request asks again, so recovery is immediate.
//   - A token that is not an RFC 6750 §2.1 b64token, or is longer than
//     MaxTokenLen, is refused as malformed without a call.
//
// The call (RFC 7662 §2.1) is a POST of token=…&token_type_hint=access_token,
// authenticated with the proxy's client credentials in HTTP Basic (RFC 6749
// §2.3.1), over TLS 1.2+ with the system roots or ca_file, no redirects
// followed. The response (RFC 7662 §2.2) is read strictly: one JSON object
// of at most 64 KiB, no repeated member, a boolean active, registered
// members with their registered types.
//
// Invariants:
//
//   - Identity headers (X-Auth-Subject and friends) are removed from every
//     request before anything else, so an upstream can trust them.
//   - An active token's identity: subject (sub, else client_id), roles from
//     the roles claim path (scope by default), tenant, issuer, method
//     introspection, flagged verified; its KeyID is a fingerprint of the
//     token (a SHA-256 prefix), never the token. A refusal records only
//     that fingerprint, flagged unverified.
//   - The response's scope member also sets Identity.Scopes bits, looked
//     up when the token is judged (after every filter is built, whatever
//     their order) and cached with it; require_claims checks members as
//     jwtauth checks claims (401 authn.claim_required naming the member).
//   - A token naming another principal than an API key or a client
//     certificate verified by an earlier filter is refused (400 authn.conflicting_credentials) and
//     attributed to no one.
//   - The filter starts no goroutines; Close releases idle connections.
//
// Missing credentials get 401 with a bare "WWW-Authenticate: Bearer"
// challenge (RFC 6750 §3.1); inactive and otherwise invalid tokens get 401
// with error="invalid_token" and a description; every refusal has a
// problem+json body (RFC 9457) naming its reason code.
package introspect
