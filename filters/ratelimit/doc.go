// Package ratelimit caps how fast each client may call a route, with the
// generic cell rate algorithm (GCRA): a token bucket kept as one
// "theoretical arrival time" (TAT) per key.
//
// Why GCRA and not a map of token buckets: a token bucket needs a count and
// a timestamp updated together, which means a lock per key (or per map).
// GCRA's whole state is one number, so a key's state, together with a
// fingerprint of the key, fits one 64-bit word that a single
// compare-and-swap checks and advances. The hot path takes no lock, never
// allocates, and touches one cache line per policy.
//
// Invariants:
//   - A key with rate r per period P and burst b is admitted at most
//     b + elapsed·r/P times over any stretch of time, however many
//     goroutines ask at once (emission interval T = P/r, tolerance τ = b·T;
//     a request at now is admitted iff max(TAT, now) + T − now ≤ τ).
//   - A refused request consumes nothing; with several policies, quota
//     taken by the ones that admitted is given back when another refuses.
//   - Memory is fixed when the filter is built: max_keys × 8 bytes per
//     policy. Idle keys (TAT in the past) carry no state and are reused
//     silently; when a bucket of 8 slots is full of live keys, the one
//     closest to idle is overwritten and counted (Stats: Evicted).
//   - Keys are built from the matched route and resolved request facts
//     (principal, client IP after trusted-proxy rules, headers, route
//     parameters), never from the raw path, so URL variants cannot reset a
//     counter; they are hashed with a random seed per policy, so clients
//     cannot aim at each other's slots.
//
// Refusals are 429 (RFC 6585 §4) with an RFC 9457 problem body, a
// Retry-After in whole seconds, rounded up and never 0 (RFC 9110 §10.2.3),
// and the RateLimit and RateLimit-Policy fields of
// draft-ietf-httpapi-ratelimit-headers-11 (structured-field lists, RFC 8941).
package ratelimit
