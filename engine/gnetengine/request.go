package gnetengine

import (
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine/pipeline"
)

// Request body modes.
const (
	bmNone     = iota // no body
	bmBuffered        // Content-Length body read whole before the chain runs
	bmChunked         // chunked body read whole (de-chunked) before the chain runs
	bmStream          // Content-Length body above the stream threshold, relayed as it arrives
)

// What a request waits for from another goroutine.
const (
	waitNone     = iota
	waitFilters  // its chain, run off the loop because a filter may wait
	waitDecision // strict mode: its decision record
	waitRecord   // its record, before the end of its response goes out
)

// Response body modes.
const (
	rmNone    = iota // no body (HEAD, 204, 304)
	rmLength         // Content-Length
	rmChunked        // chunked, relayed verbatim
	rmClose          // delimited by the upstream closing the connection
)

// request is the pooled state of one request: the exchange filters see,
// the parsed request and response heads, and the buffers that carry it
// upstream and back. It lives on one loop from the first byte to the last.
type request struct {
	pipeline.Request
	hdr  fasthttp.RequestHeader
	resp fasthttp.ResponseHeader

	cc   *clientConn
	up   *upConn
	pool *loopPool

	accounted     bool // ended in the pipeline (account)
	head          bool // HEAD: the response has no body
	keepAlive     bool // the client connection persists after the response
	wantKeepAlive bool // the client asked for a persistent connection
	attempts      int  // targets tried for this request

	out []byte // bytes for the upstream, then for the client
	iov [][]byte

	bodyMode uint8
	bodyLeft int64 // Content-Length bytes not yet read from the client
	body     []byte
	chunks   pipeline.ChunkScanner

	gotHead    bool
	respMode   uint8
	respLeft   int64
	respChunks pipeline.ChunkScanner
	dechunk    bool   // the chunked response is decoded for an HTTP/1.0 client
	decoded    []byte // a decoded piece of it
	wrote      bool   // part of the response has been written

	// What the request waits for from another goroutine (audit.go). It is
	// kept here, not only in the connection's state, because it outlives a
	// connection that closes meanwhile.
	waiting uint8
	allowed bool  // the verdict of a chain part run off the loop
	phase   uint8 // which part (phaseHead, phaseBody)
	// While waitRecord, the end of the response waits in held.
	auditErr error // what the loop acts on: the settled failure, if any
	ackErr   error // set by the audit log's goroutine before it queues the ack
	held     []byte
	ackFn    func(uint64, error) // r.onRecorded, bound once
}

var requestPool = sync.Pool{New: func() any {
	r := &request{iov: make([][]byte, 2)}
	r.ackFn = r.onRecorded
	r.Request.Reset()
	return r
}}

func acquireRequest() *request { return requestPool.Get().(*request) }

// releaseRequest resets r and returns it to the pool.
func releaseRequest(r *request) {
	r.Request.Reset()
	r.hdr.Reset()
	r.resp.Reset()
	r.cc, r.up, r.pool = nil, nil, nil
	r.accounted, r.head, r.keepAlive, r.wantKeepAlive = false, false, false, false
	r.attempts = 0
	r.out = shrink(r.out)
	r.iov[0], r.iov[1] = nil, nil
	r.bodyMode, r.bodyLeft = bmNone, 0
	r.body = shrink(r.body)
	r.chunks.Reset()
	r.gotHead, r.respMode, r.respLeft, r.wrote = false, rmNone, 0, false
	r.respChunks.Reset()
	r.dechunk, r.decoded = false, shrink(r.decoded)
	r.waiting, r.auditErr, r.ackErr, r.held = waitNone, nil, nil, shrink(r.held)
	r.allowed, r.phase = false, phaseHead
	requestPool.Put(r)
}

// shrink empties b, dropping it when a large body grew it, so the pool
// does not pin big buffers.
func shrink(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}
