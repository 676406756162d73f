// Package concurrency protects an upstream from surges: a filter instance
// lets at most max_concurrent requests through at once, parks the next
// max_queue in a FIFO queue for at most queue_timeout, and sheds the rest
// with 503 and Retry-After (RFC 9110 §15.6.4, §10.2.3) and an RFC 9457
// problem body (throttle.queue_full, throttle.queue_timeout).
//
// Why a queue rather than shedding at once: surges are short, and a
// request that waits a few milliseconds for a slot is better served than
// one refused; the bound on the queue and on the wait keeps the proxy's own
// memory and latency bounded when the surge is not short.
//
// Invariants:
//   - At most max_concurrent requests hold a slot: admission is a CAS on
//     one counter (no lock on the fast path); a slot is released by Finish,
//     which the engine calls exactly once per request on every path.
//   - A released slot is handed directly to the oldest waiter, so newcomers
//     cannot overtake the queue, and a waiter can never sleep beside a
//     free slot (release re-checks the queue after freeing).
//   - Waiting blocks the request's goroutine, which is acceptable on an
//     engine that runs one goroutine per connection; on an event-loop
//     engine use max_queue: 0.
//
// A streamed response finishes when the engine's handler returns, before
// the stream has ended, so the slot covers the time to the response
// headers, not the whole stream.
package concurrency
