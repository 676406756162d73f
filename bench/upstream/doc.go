// Package upstream is Tollgate's demo upstream: a small, fast JSON API used by
// the quickstart (tollgate demo-upstream), the end-to-end tests and the load
// harness.
//
// It exists so that every example, test and benchmark talks to the same
// backend, one whose behaviour is known exactly: fixed customers, an order
// endpoint that validates JSON, a Server-Sent Events stream flushed event by
// event, a download generated on the fly (never buffered, with
// Content-Length), a slow endpoint, an echo endpoint that reports the headers
// it received (to check the proxy's header rewriting), and a tiny fixed body
// for load tests.
//
// Invariants:
//   - Every request is counted, in total and per exact path, before it is
//     answered, so a test can assert that a denied request never reached the
//     upstream. The per-path table is bounded; paths past the bound are
//     counted together under OtherPaths.
//   - Every wait is bounded: /slow at 60s, the event stream by its event count
//     and interval limits, downloads at 1 TiB. Shutdown ends streams,
//     downloads and waits at once, closing their connections if need be.
//   - Responses are JSON (RFC 8259) except the event stream, which follows
//     the HTML Living Standard's text/event-stream format, and the download.
package upstream
