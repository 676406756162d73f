// Package insight answers "who is doing what across the APIs, right now":
// live statistics, unusual-access detectors and the dashboard that shows
// them, all fed by the very auditlog.Entry the audit log records, so there
// is one event path per request, produced once.
//
// # Why a queue and one aggregator
//
// Observe runs on the request goroutine and must cost well under the
// request (target ≤ 100 ns, 0 allocs/op; BenchmarkObservePublished measures
// 36–45 ns on a shared 2-core machine). It does no statistics itself: it
// copies the entry into
// a fixed-size record — principal and route cut to 64 bytes for display,
// both keyed by a seeded hash of the whole value — in a bounded
// multi-producer ring (Vyukov's bounded queue: one CAS to claim a slot, one
// store to publish, 16384 slots). It never blocks: when the aggregator has
// fallen a whole ring behind, the record is dropped and counted in
// tollgate_insight_dropped_total. A single aggregator goroutine drains the
// ring every 10 ms and folds each record into the structures below, so none
// of them needs a lock of its own; readers (the HTTP handlers) take one
// mutex to snapshot them. The fold costs about 1 µs per request in the worst
// case (BenchmarkFold: every request evicts a counter), so one core folds
// about a million requests/s; beyond that, records are dropped and counted.
//
// # Heavy hitters
//
// The top endpoints (route templates; "(none)" when no route matched), top
// principals (anonymous requests are not listed) and top client IPs are kept
// with Space-Saving (Metwally, Agrawal and El Abbadi, "Efficient Computation
// of Frequent and Top-k Elements in Data Streams", 2005): Capacity counters
// per summary; a new key takes a free counter or the one with the smallest
// count, inheriting that count as its over-estimate. Any key with more than
// 1/Capacity of the requests is guaranteed a counter, a reported count is
// never low and is high by at most Top.Overestimate, and when a window holds
// no more distinct keys than Capacity every count is exact. Error counts and
// latency histograms start afresh when a key takes a counter.
//
// Sliding windows (1m, 15m, 1h by default) are made of 12 panes each plus
// the current one, with a summary per pane; a query merges the panes that
// overlap [now−window, now], so a window covers between its length and
// 13/12 of it. Totals, the status-class mix, the failure rate and overall
// latency come from a ring of 3600 per-second buckets and cover exact whole
// seconds.
//
// An error is a request answered with status ≥ 400 or not allowed by the
// proxy (decision other than allowed). A failure is a 5xx answer or an
// upstream or proxy failure (decisions upstream_error and failed).
//
// Latency percentiles come from fixed histograms with doubling buckets from
// 100 µs to ~26 s; a percentile is reported as its bucket's upper bound, so
// it is never low and at most twice the true value.
//
// # Detectors
//
// Each detector is named, configured under insight: and counted in
// tollgate_insight_findings_total{detector="…"}; each finding carries who,
// what, when and the numbers it was decided on, and is sent on the live
// feed.
//   - principal_baseline: per interval (10 s), each tracked principal's
//     request count x is compared with its exponentially weighted moving
//     average μ and mean absolute deviation σ; x ≥ min_requests, x ≥ factor·μ
//     and x > μ + deviations·σ, after min_samples intervals, raise one finding
//     until x falls back.
//   - auth_failures: 401 and 403 answers counted per client IP and per
//     principal over a window starting at the key's first failure; reaching
//     threshold raises one finding per window (credential stuffing from one
//     address, enumeration against one account).
//   - sensitive_route: the first request of a principal to a listed route
//     template, whatever its outcome.
//   - error_rise: per interval, a route's 5xx count and ratio against its
//     moving ratio: at least min_errors, a ratio of at least min_ratio and
//     factor times the usual one raise one finding until it falls back.
//
// Per-request work (auth failures, sensitive routes) is done as records are
// folded; interval work runs on the aggregator's tick.
//
// # Bounded memory
//
// Every structure is allocated by New and never grows: the ring
// (16384 × 248 B), the feed ring (4096 records), 3600 per-second buckets,
// windows × 13 panes × 3 dimensions × Capacity counters, and the detector
// tables (fixed-size hash tables of 8-slot probe runs that evict the entry
// with the lowest activity when full). TestBoundedMemory feeds a million
// distinct principals and client IPs and checks the heap does not grow.
// With the defaults the package holds about 8 MiB.
//
// # Live feed
//
// The aggregator writes every record into a 4096-event ring. Each
// Server-Sent Events stream (at most 8 at once) wakes every 250 ms, reads
// the events written since its last tick that match its filters (principal,
// route, status or status class, decision) and sends the newest
// FeedEventsPerTick of them (default 50, so at most 200 events/s per
// client), followed by a "skipped" event counting the matching events it
// did not send plus the events overwritten before it read them. At 50k
// requests/s a stream therefore costs one scan of at most 4096 records and
// 50 JSON encodings per tick, whatever the request rate: the feed is
// sampled, and says how much.
//
// # Cluster view
//
// Everything above is one instance's view. When the instances ship their
// audit logs to one PostgreSQL database (auditlog/pgship), that database
// is the one place that has seen every instance, so /api/cluster answers
// from it: per instance and cluster-wide counts, top lists and how far
// each instance's copy has got. This package holds no driver: it calls a
// ClusterSource the proxy plugs in (SetCluster), and adds what every
// dashboard needs whatever the source — a cache per window for 2 s (the
// panel's refresh), so a room full of dashboards sends one query per
// window every 2 s; one query at a time, so concurrent refreshes wait
// for it instead of sending their own; a 2 s timeout independent of the
// client, so one that leaves does not cancel the query the others wait
// for; and an RFC 9457 problem object when the source fails, so the
// panel says why while the local statistics, which never touch the
// database, keep answering.
package insight
