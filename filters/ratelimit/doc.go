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
// Shared policies (store: redis). A local table limits one instance;
// behind a load balancer, I instances admit I times the rate. A policy
// with store: redis is counted in Redis instead, by package redisstore: the
// same GCRA in one atomic script per decision, on Redis's clock. Its key is
// built from the same facts as the local key but hashed with SHA-256, not
// the local random seed, because every instance must name the same key.
// In lease mode an instance takes small batches of the budget and spends
// them locally, refilled ahead of need by workers the filter owns (stopped
// by Close, with the Redis client): over a window W, with I instances, a
// key admits at most burst + W·rate/per + I·(lease + ⌊lease/2⌋), since an
// instance never holds more than lease + ⌊lease/2⌋ of a key. Because
// Handle may then wait on the network, the filter implements
// filters.Blocker; it also implements filters.Waiter, so the gnet engine
// decides on its event loop a request that spends a held lease or meets a
// held refusal, and leaves the loop only for one that must call Redis
// (exact mode, an empty lease).
// When Redis cannot be reached each policy applies its explicit
// on_store_error (allow, deny, or its local limiter), behind a circuit
// breaker, and marks the exchange (Exchange.Fallback) for the audit record.
//
// Refusals are 429 (RFC 6585 §4) with an RFC 9457 problem body, a
// Retry-After in whole seconds, rounded up and never 0 (RFC 9110 §10.2.3),
// and the RateLimit and RateLimit-Policy fields of
// draft-ietf-httpapi-ratelimit-headers-11 (structured-field lists, RFC 8941).
//
// How the headers map the bucket. The draft's RateLimit item carries r,
// the "available quota" in the unit of the policy's q, and t, the seconds
// within which the client can use no more than r; its RateLimit-Policy item
// carries q, the quota, and w, the window it applies to, both informative.
// The only quota a GCRA key can spend is its bucket, so:
//
//	RateLimit-Policy: "name";q=<burst>;w=<⌈burst × per / rate⌉>
//	RateLimit:        "name";r=<tokens left>;t=<seconds until the bucket is full>
//
// q is the bucket's capacity, so r (at most burst − 1 after an admission,
// 0 on a refusal) never exceeds it; w is τ = burst × T, the time an
// exhausted bucket takes to fill, so q/w is the sustained rate rate/per and
// t never exceeds w. w is whole seconds (the draft has no fractions),
// rounded up: when burst × per / rate is not whole, q/w understates the
// rate slightly, never overstates it. With burst = rate (the default) this
// is q=rate, w=per. Sending q=rate, w=per for every burst would be the
// other reading, but then r would exceed q whenever burst > rate
// (quickstart: r=19 against q=10), which no client can make sense of.
package ratelimit
