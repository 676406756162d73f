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
package fasthttpengine
