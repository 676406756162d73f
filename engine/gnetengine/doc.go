// Package gnetengine is Tollgate's event-loop front end and its default
// engine for plain-HTTP listeners (engine: auto): the requests run
// through the same pipeline (engine/pipeline) as on the goroutine engine
// (fasthttpengine), driven from github.com/panjf2000/gnet/v2 event loops
// instead of a goroutine per connection. This package owns sockets,
// parsing and scheduling; what a request means is the pipeline's.
//
// Why: under load the default engine spends most of its CPU in read and
// write system calls, wasted EAGAIN reads, and goroutine park and wake on
// every upstream round trip. Here a socket is read only when epoll says it
// is ready, and a request's whole round trip — client read, filters,
// upstream write, upstream read, client write — runs on one loop: the
// upstream connections are enrolled in the loop of the client connection
// they serve (one keep-alive pool per loop and upstream target), so no
// goroutine hands anything to another.
//
// Invariants:
//   - Nothing blocks a loop. Connecting to an upstream runs on a
//     short-lived goroutine per new connection, which is then enrolled in
//     the loop. Filters run on the loop, in two parts around reading the
//     body (identity and policy on the head, then body filters). A
//     filter that may wait decides on the loop when it can do so at once
//     (filters.Waiter: an introspection cache hit, a held rate-limit
//     lease, a free concurrency slot); only when it would have to wait
//     (a cache miss, an empty lease, a full limit) does the rest of the
//     part run on its own goroutine, from that filter on, while its
//     connection waits (counted in tollgate_gnet_offloop_total);
//     audit records are acknowledged asynchronously (audit.go). Whatever
//     comes back from another goroutine re-enters the loop through its ack
//     queue. Every such goroutine is started by Server.goOffLoop and
//     waited for by Shutdown: none outlives the server.
//   - Bytes from gnet's Peek are consumed or copied before the handler
//     returns; per-request state lives in a pooled request object, and the
//     steady-state request path allocates nothing (alloc_test.go).
//   - HTTP/1.1 parsing is strict (RFC 9112), with the pipeline's checks
//     (pipeline.CheckRequestLine before parsing; Begin for version, fields and
//     framing): the request line is judged as soon as it is in, so an
//     HTTP/0.9-style line is refused at once; heads over max_header_bytes
//     get 431 and bodies over the limit 413. Requests on a connection are
//     answered one at a time, in order.
//   - Bodies are relayed as they arrive (Content-Length, chunked passed
//     through verbatim, close-delimited), with bounded memory: while one
//     side's outbound backlog is high the other side's socket is taken out
//     of the loop's epoll set (see pause_linux.go) until it drains.
//   - gnet has no read deadlines: each loop keeps one timer armed for the
//     earliest deadline of its connections and sweeps them when it fires,
//     answering 408 (a new connection silent for header_timeout, a slow
//     client), 504 (upstream timeout), cutting off a client that stopped
//     reading for write_timeout, or closing idle keep-alive connections.
//     Nothing ticks: a loop whose connections are all idle sleeps until
//     the first idle_timeout.
//
// Not supported: TLS on listeners (New refuses them) and TLS to upstreams
// (answered 502); engine: auto serves such configurations with the
// goroutine engine. Nor a client's half-close: gnet closes a connection at
// the first end-of-stream it reads (eventloop.read), so a client that
// shuts down its sending side after the request gets no answer, where the
// goroutine engine answers it. Keeping such a connection open would take
// a change to gnet itself.
package gnetengine
