// Package fasthttpengine is Tollgate's default network front end: an
// HTTP/1.1 server on github.com/valyala/fasthttp that adapts each request to
// a filters.Exchange, runs the matched route's chain, and forwards allowed
// requests over keep-alive upstream pools.
//
// The request object fasthttp hands us is forwarded upstream in place and
// the upstream's response is read straight into the response we send back,
// so a proxied request copies no headers or bodies. Bodies above the
// listener's stream threshold, chunked responses and Server-Sent Events are
// streamed through as they arrive, bounded by idle timeouts rather than an
// absolute deadline.
//
// fasthttp keeps no raw bytes of a head it refuses, so every connection is
// wrapped (lineconn.go) to keep a bounded copy of each request's line: a
// parser refusal is recorded with its method and target as on the event
// loop, a malformed request line is refused as soon as it is in, and a
// client that hung up before its answer is recorded as such.
package fasthttpengine
