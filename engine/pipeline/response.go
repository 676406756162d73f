package pipeline

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/engine/upstream"
	"github.com/tollgate-proxy/tollgate/filters"
)

// PrepareResponse rewrites an upstream's response head in place for the
// client: hop-by-hop fields removed, the headers filters added (rate-limit
// state, for example) and X-Request-Id set, then the response filters
// run. It reports false when a response filter panicked: nothing of the
// response may be sent, and the engine answers r.Ex's 500 instead. The
// head must have passed CheckResponseHead (an engine that reads the raw
// head) or CheckParsedResponse (one whose client parsed it).
func (p *Pipeline) PrepareResponse(r *Request, h *fasthttp.ResponseHeader) (ok bool) {
	ex := &r.Ex
	// A response without Content-Type goes out without one: fasthttp
	// would add text/plain, a claim the upstream did not make.
	h.SetNoDefaultContentType(true)
	r.scratch = forward.RemoveResponseHopByHop(h, r.scratch)
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		k, v := ex.ResponseHeader(i)
		h.SetBytesV(k, v)
	}
	h.SetCanonical(keyRequestID, ex.RequestID)
	ex.Status = h.StatusCode()
	defer func() {
		if v := recover(); v != nil {
			p.Panicked(r, "response filter", v)
			ok = false
		}
	}()
	r.Route.Chain.RunResponse(ex)
	return true
}

// CheckParsedResponse is CheckResponseHead for an engine whose upstream
// client parsed the head before the proxy saw it (the goroutine engine:
// fasthttp's client parses leniently, and "X Note: 1" passes). It
// refuses with 502 upstream.bad_response, and reports false, a head that
// is not a final answer (2xx–5xx) or holds a field whose name is not a
// token or whose value has a control byte but HTAB (RFC 9110 §5.1,
// §5.5): a field a lenient parser let through is never forwarded.
func (p *Pipeline) CheckParsedResponse(r *Request, h *fasthttp.ResponseHeader) bool {
	if validResponseFields(h) {
		return true
	}
	p.UpstreamFailed(r, filters.ReasonUpstreamBad)
	p.throttled.Warn("upstream sent a malformed response head", "route", r.Route.Info.Name, "upstream", r.Route.Info.Upstream)
	return false
}

func validResponseFields(h *fasthttp.ResponseHeader) bool {
	if h.StatusCode() < 200 {
		// A final 1xx: the proxy strips Upgrade, so a 101 answers an
		// upgrade nobody asked for (RFC 9110 §15.2.2); the event loop's
		// parser refuses it too.
		return false
	}
	for k, v := range h.All() {
		if !filters.IsToken(filters.B2S(k)) || !validValue(v) {
			return false
		}
	}
	return true
}

// WriteProblem renders r.Ex's refusal into h (status, problem+json content
// type and length, the headers filters added, X-Request-Id, and
// Connection: close when MustClose) and returns the body, valid until the
// request is reset. For a HEAD request the engine sends the head alone;
// the length is still announced.
func (p *Pipeline) WriteProblem(r *Request, h *fasthttp.ResponseHeader) []byte {
	ex := &r.Ex
	reason := ex.Reason()
	if reason == nil {
		reason = filters.ReasonInternal
		ex.Refuse(reason)
	}
	if len(ex.RequestID) == 0 {
		ex.RequestID = p.ids.Set(ex.RequestID, nil)
	}
	r.problem = ex.AppendProblem(r.problem[:0])
	h.Reset()
	h.SetStatusCode(reason.Status)
	h.SetContentType(filters.ProblemContentType)
	h.SetContentLength(len(r.problem))
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		k, v := ex.ResponseHeader(i)
		h.SetBytesV(k, v)
	}
	h.SetBytesV(forward.HeaderRequestID, ex.RequestID)
	if r.MustClose() {
		h.SetConnectionClose()
	}
	ex.Status = reason.Status
	return r.problem
}

// End accounts for a request whose response is complete (or cut off): the
// chain's Finish hooks run once, the audit record is written and the
// route's counters move. With done nil End blocks until the record is as
// durable as the audit mode asks; if it cannot be written under
// fail-closed, err is returned and r.Ex now holds the 503 the engine must
// answer instead (if nothing of the response is out yet) — its status is
// what is counted. With done set (an event loop) the record is queued:
// pending says done will be called once CommitAudit (the engine's or
// another's) has written it, and the engine must hold the end of the
// response until then and pass done's error to Settle.
func (p *Pipeline) End(r *Request, end time.Time, done func(uint64, error)) (pending bool, err error) {
	ex := &r.Ex
	if r.Route != nil {
		p.finish(r)
	}
	if rec := p.recorder; rec != nil {
		roles := (*filters.Roles)(nil)
		if r.RT != nil {
			roles = r.RT.Roles
		}
		if done == nil {
			if err = rec.Record(ex, roles, end); err != nil {
				p.throttled.Warn("cannot record request in the audit log; answering 503", "err", err)
				ex.Refuse(engine.ReasonAuditUnavailable)
				ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
				ex.Status = engine.ReasonAuditUnavailable.Status
			}
		} else {
			pending, err = rec.RecordFunc(ex, roles, end, done)
		}
	}
	if rt := r.RT; rt != nil {
		route := r.Route
		if route == nil {
			route = rt.Unmatched
		}
		route.CountResponse(ex.Status, end.Sub(ex.Start))
	}
	return pending, err
}

// CommitAudit writes the audit records End and Admit queued for an event
// loop (engine.Recorder.Commit). A loop calls it once per turn, so that
// one write carries every record of the turn; the callbacks of the
// records it writes run before it returns.
func (p *Pipeline) CommitAudit() {
	if p.recorder != nil {
		p.recorder.Commit()
	}
}

// finish runs the chain's Finish hooks behind a recovery boundary.
func (p *Pipeline) finish(r *Request) {
	defer func() {
		if v := recover(); v != nil {
			p.panics.Inc()
			p.log.Error("recovered from a panic in a filter's Finish", "panic", v, "request_id", string(r.Ex.RequestID))
		}
	}()
	r.Route.Chain.Finish(&r.Ex)
}

// Settle accounts for a queued record's outcome (done's error): it returns
// the error the engine must act on under fail-closed (answer 503 if
// nothing is sent, else cut the response), nil when it may serve.
func (p *Pipeline) Settle(err error) error {
	if p.recorder == nil {
		return nil
	}
	err = p.recorder.Settle(err)
	if err != nil {
		p.throttled.Warn("cannot record request in the audit log; refusing its response", "err", err)
	}
	return err
}

// AuditUnavailable turns r's answer into 503 audit.unavailable, for a
// response whose record failed under fail-closed before any of it was
// sent.
func (r *Request) AuditUnavailable() {
	r.Ex.Refuse(engine.ReasonAuditUnavailable)
	r.Ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
}

// Leave ends the request: its runtime reference is dropped and it no
// longer counts as in flight (a drain waits for it until then).
func (p *Pipeline) Leave(r *Request) {
	if !r.begun {
		return
	}
	r.begun = false
	if rt := r.RT; rt != nil {
		rt.Release()
		r.RT = nil
	}
	p.inFlight.Add(-1)
}

// StreamRecord is the end record of a streamed response, between
// BeginStream and EndStream.
type StreamRecord auditlog.Entry

// BeginStream prepares the end record of a response whose body is
// streamed after End (see engine.Recorder.BeginStream); nil without an
// audit log.
func (p *Pipeline) BeginStream(r *Request) *StreamRecord {
	if p.recorder == nil || r.RT == nil {
		return nil
	}
	return (*StreamRecord)(p.recorder.BeginStream(&r.Ex, r.RT.Roles))
}

// EndStream completes a record made by BeginStream (see
// engine.Recorder.EndStream).
func (p *Pipeline) EndStream(e *StreamRecord, sent int64, reason *filters.Reason, end time.Time) {
	p.recorder.EndStream((*auditlog.Entry)(e), sent, reason, end)
}

// UpstreamPool and UpstreamOptions are a route's upstream, for an engine
// that keeps its own connections to the pool's targets (the event loop).
type (
	UpstreamPool    = upstream.Pool
	UpstreamOptions = upstream.Options
)

// MaxResponseHead bounds an upstream's status line and headers on every
// engine (upstream.MaxResponseHead).
const MaxResponseHead = upstream.MaxResponseHead

// UpstreamError answers a request whose upstream exchange failed before a
// response head arrived: 504 upstream.timeout for a timeout, 502
// upstream.unavailable otherwise, counted per upstream and logged
// (throttled).
func (p *Pipeline) UpstreamError(r *Request, err error) {
	reason := filters.ReasonUpstreamDown
	switch {
	case upstream.IsTimeout(err):
		reason = filters.ReasonUpstreamTimeout
	case answeredBadly(err):
		reason = filters.ReasonUpstreamBad
	}
	p.UpstreamFailed(r, reason)
	p.throttled.Warn("upstream request failed", "route", r.Route.Info.Name, "upstream", r.Route.Info.Upstream, "err", err)
}

// UpstreamFailed is UpstreamError for an engine that has classified the
// failure itself (reason is upstream.timeout, .unavailable or
// .bad_response).
func (p *Pipeline) UpstreamFailed(r *Request, reason *filters.Reason) {
	if route := r.Route; route != nil {
		if reason == filters.ReasonUpstreamTimeout {
			route.UpstreamTimeouts.Inc()
		} else {
			route.UpstreamErrors.Inc()
		}
	}
	r.Ex.Refuse(reason)
}

// answeredBadly reports whether an upstream error is the upstream's
// answer itself (a head that is not HTTP, a bad chunk, a body over its
// limit) rather than the network failing under it (no connection, a
// reset, a close before any answer, a timeout): 502 upstream.bad_response,
// as the event loop classifies a response its parser refuses, rather than
// upstream.unavailable.
func answeredBadly(err error) bool {
	var ne net.Error
	return !errors.As(err, &ne) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, fasthttp.ErrConnectionClosed) && !errors.Is(err, fasthttp.ErrNoFreeConns) && !upstream.IsDialError(err)
}
