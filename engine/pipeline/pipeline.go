package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/filters"
)

// Options configures a Pipeline.
type Options struct {
	// Holder publishes the current runtime; a request acquires it once.
	Holder *engine.Holder
	// Recorder, if set, records every request (audit log, statistics).
	Recorder *engine.Recorder
	// Log receives operational logs.
	Log *slog.Logger
	// Metrics receives the process-wide request metrics.
	Metrics *metrics.Set
}

// Pipeline serves requests for every engine of a process. It is safe for
// concurrent use; per-request state lives in Request.
type Pipeline struct {
	holder    *engine.Holder
	recorder  *engine.Recorder
	log       *slog.Logger
	throttled *engine.ThrottledLogger
	ids       *forward.RequestIDs

	inFlight  atomic.Int64
	malformed *metrics.Counter
	shed      *metrics.Counter
	panics    *metrics.Counter
	offLoop   *metrics.Counter
}

// New builds a pipeline and registers its metrics.
func New(opts Options) (*Pipeline, error) {
	if opts.Holder == nil {
		return nil, errors.New("pipeline: nil runtime holder")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	set := opts.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	ids, err := forward.NewRequestIDs()
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		holder:    opts.Holder,
		recorder:  opts.Recorder,
		log:       log,
		throttled: engine.NewThrottledLogger(log, 5*time.Second),
		ids:       ids,
	}
	_ = set.NewGauge(`tollgate_http_requests_in_flight`, func() float64 { return float64(p.inFlight.Load()) })
	p.malformed = set.NewCounter(`tollgate_http_malformed_requests_total`)
	p.shed = set.NewCounter(`tollgate_http_shed_requests_total`)
	p.panics = set.NewCounter(`tollgate_http_panics_total`)
	p.offLoop = set.NewCounter(`tollgate_gnet_offloop_total`)
	return p, nil
}

// InFlight returns the number of requests begun and not yet left.
func (p *Pipeline) InFlight() int64 { return p.inFlight.Load() }

// Warn logs a rare failure, at most once per interval.
func (p *Pipeline) Warn(msg string, args ...any) { p.throttled.Warn(msg, args...) }

// Listener is what the pipeline needs to know of the listener a request
// arrived on. Engines build one per listener at start-up.
type Listener struct {
	// Name keys the runtime's per-listener settings (trusted proxies).
	Name string
	// TLS reports whether the listener terminates TLS.
	TLS bool
	// MaxBodyBytes is the listener's body limit for routes without one.
	MaxBodyBytes int64
	// TrustRequestID keeps any client's well-formed X-Request-Id.
	TrustRequestID bool
}

// NewListener returns what the pipeline needs of a configured listener.
func NewListener(c config.Listener) Listener {
	return Listener{Name: c.Name, TLS: c.TLS != nil, MaxBodyBytes: int64(c.MaxBodyBytes), TrustRequestID: c.TrustRequestID}
}

// Request is the pipeline's per-request state. Engines embed it in their
// own pooled request object and Reset it between requests.
type Request struct {
	// Ex is the exchange filters see.
	Ex filters.Exchange
	// RT is the runtime serving the request, held from Begin to Leave.
	RT *engine.Runtime
	// Route is the matched route, or nil.
	Route *engine.Route
	// Trusted reports whether the TCP peer is a trusted proxy.
	Trusted bool
	// Limit is the request body limit of the matched route.
	Limit int64
	// HTTP10 reports that the client spoke HTTP/1.0 (the request goes
	// upstream as HTTP/1.1 all the same): its answer must not be chunked.
	HTTP10 bool

	h       *fasthttp.RequestHeader
	hadapt  reqHeaders
	begun   bool
	path    []byte
	target  []byte
	scratch []byte
	problem []byte
	attempt []byte // the request target (and method) as the client sent them
}

// Reset empties r for the next request, keeping its buffers.
func (r *Request) Reset() {
	r.Ex.Reset()
	r.RT, r.Route, r.Trusted, r.Limit, r.HTTP10 = nil, nil, false, 0, false
	r.h, r.hadapt.h, r.begun = nil, nil, false
	r.path, r.target, r.scratch, r.problem = r.path[:0], r.target[:0], r.scratch[:0], r.problem[:0]
	r.attempt = r.attempt[:0]
}

// Attempted records the method and target of a request the engine could
// not parse, from its request line, so its audit record shows what was
// attempted. Both are copied (at most 2 KiB); call it after Malformed.
func (r *Request) Attempted(method, target []byte) {
	method, target = method[:min(len(method), 32)], target[:min(len(target), 2048)]
	r.attempt = append(append(r.attempt[:0], method...), target...)
	r.Ex.Method = r.attempt[:len(method)]
	r.Ex.RawTarget = r.attempt[len(method):]
}

// Target returns the request target PrepareUpstream set for the upstream:
// the normalized path and the raw query.
func (r *Request) Target() []byte { return r.target }

// Begun reports whether the request is between Begin and Leave.
func (r *Request) Begun() bool { return r.begun }

// MustClose reports whether the connection must close after the refusal
// r carries: the framing of a request the proxy could not understand
// cannot be trusted, so nothing more is read from that connection.
func (r *Request) MustClose() bool {
	reason := r.Ex.Reason()
	if reason == nil {
		return false
	}
	switch reason.Status {
	case 400, 408, 431, 505:
		return true
	}
	return reason == filters.ReasonInternal
}

// reqHeaders adapts fasthttp's request headers to filters.Headers.
type reqHeaders struct{ h *fasthttp.RequestHeader }

func (a *reqHeaders) Peek(name string) []byte       { return a.h.Peek(name) }
func (a *reqHeaders) Set(name string, value []byte) { a.h.SetBytesV(name, value) }
func (a *reqHeaders) Del(name string)               { a.h.Del(name) }

// Count implements filters.HeaderCounter on the fields as received.
func (a *reqHeaders) Count(name string) int { return forward.CountField(a.h.RawHeaders(), name) }

// enter counts a request in flight and takes the current runtime.
func (p *Pipeline) enter(r *Request, l *Listener, peer netip.Addr, start time.Time) int64 {
	n := p.inFlight.Add(1)
	r.begun = true
	ex := &r.Ex
	ex.Start = start
	ex.PeerIP, ex.ClientIP = peer, peer
	ex.TLS = l.TLS
	if rt := p.holder.Acquire(); rt != nil {
		r.RT = rt
		ex.Generation = rt.Generation
	}
	return n
}

// Malformed begins and refuses a request whose head the engine could not
// read (reason says why: malformed, too large, not received in time). It
// is accounted for as every other request is: an audit record, the
// unmatched route's counters, and the malformed-request counter.
func (p *Pipeline) Malformed(r *Request, l *Listener, peer netip.Addr, start time.Time, reason *filters.Reason) {
	p.enter(r, l, peer, start)
	p.malformed.Inc()
	r.Ex.RequestID = p.ids.Set(r.Ex.RequestID, nil)
	r.Ex.Refuse(reason)
}

// Panicked accounts for a panic recovered while serving r (where names
// the code that panicked) and turns r's answer into 500
// proxy.internal_error: recorded, counted and logged, instead of a process
// that stops serving everyone. Engines call it from their own recovery
// boundaries; the pipeline's guard the filters.
func (p *Pipeline) Panicked(r *Request, where string, v any) {
	p.panics.Inc()
	p.log.Error("recovered from a panic while serving a request", "where", where, "panic", fmt.Sprint(v), "request_id", string(r.Ex.RequestID), "stack", string(debug.Stack()))
	r.Ex.Refuse(filters.ReasonInternal)
}
