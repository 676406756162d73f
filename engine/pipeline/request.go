package pipeline

import (
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/forward"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
)

var strOne = []byte("1")

// Begin starts a request whose head h the engine has parsed: it fills
// what every outcome records (method, target, client, request id), checks
// the head strictly, sheds load, normalizes the path, finds the route (or
// runs the not_found chain), refuses duplicate credentials and deletes
// client-sent copies of the headers the route's filters forward an
// identity in (filters.IdentityForwarder), so that only the proxy sets
// them, whatever the filters' order. It reports
// whether the request may go on (FilterHead, the body, FilterBody);
// otherwise r.Ex holds the refusal, and the engine answers it with
// WriteProblem.
//
// h must stay valid and unchanged by the engine until Leave.
func (p *Pipeline) Begin(r *Request, l *Listener, h *fasthttp.RequestHeader, peer netip.Addr, start time.Time) bool {
	inFlight := p.enter(r, l, peer, start)
	ex := &r.Ex
	r.h = h
	r.hadapt.h = h
	ex.SetHeaders(&r.hadapt)
	ex.Method = h.Method()
	ex.Host = h.Host()
	// A copy: PrepareUpstream rewrites the head's target in place, and the
	// record, written after forwarding, keeps what the client sent.
	r.attempt = append(r.attempt[:0], h.RequestURI()...)
	ex.RawTarget = r.attempt
	ex.ContentLength = int64(h.ContentLength())
	r.HTTP10 = !h.IsHTTP11()
	rt := r.RT
	if rt == nil {
		// Shutting down: no runtime to serve from.
		ex.RequestID = p.ids.Set(ex.RequestID, nil)
		ex.Refuse(filters.ReasonOverloaded)
		return false
	}
	if lset := rt.Listeners[l.Name]; lset != nil && lset.IsTrusted(peer) {
		r.Trusted = true
		ex.ClientIP = forward.ClientIP(h.Peek(forward.HeaderXFF), peer, lset)
	}
	var presented []byte
	if r.Trusted || l.TrustRequestID {
		presented = h.Peek(forward.HeaderRequestID)
	}
	ex.RequestID = p.ids.Set(ex.RequestID, presented)

	if reason := checkParsed(h); reason != nil {
		p.malformed.Inc()
		ex.Refuse(reason)
		return false
	}
	if max := rt.Config.Limits.MaxInFlight; max > 0 && inFlight > int64(max) {
		// Shed before doing any work for the request.
		p.shed.Inc()
		ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
		ex.Refuse(filters.ReasonOverloaded)
		return false
	}

	rawPath, query, ok := forward.SplitTarget(ex.RawTarget)
	if !ok {
		ex.Refuse(filters.ReasonBadPath)
		ex.AppendDetailString("request target must be origin-form or absolute-form")
		return false
	}
	ex.Query = query
	var err error
	r.path, err = router.Normalize(r.path[:0], rawPath)
	if err != nil {
		ex.Refuse(filters.ReasonBadPath)
		ex.AppendDetailString(err.Error())
		return false
	}
	ex.Path = r.path

	id, res := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
	switch res {
	case router.Found:
	case router.MethodNotAllowed:
		if p.notFound(r, rt.NotFound) {
			ex.AddResponseHeader(forward.HeaderAllow, rt.Router.Allow(ex.Host, ex.Path))
			ex.Refuse(filters.ReasonMethodNotAllowed)
		}
		return false
	default:
		if p.notFound(r, rt.NotFound) {
			ex.Refuse(filters.ReasonNoRoute)
		}
		return false
	}
	route := rt.Routes[id]
	r.Route = route
	ex.Route = &route.Info
	if duplicated(h, route.CredentialHeaders) {
		ex.Refuse(filters.ReasonDuplicateCredentials)
		return false
	}
	strip(h, route.IdentityHeaders)
	r.Limit = route.MaxBodyBytes
	if r.Limit <= 0 {
		r.Limit = l.MaxBodyBytes
	}
	return true
}

// notFound runs the not_found chain (if any) for a request no route
// matches, so its identity is checked before the proxy says whether a
// route exists. It reports whether the request is answered 404/405; false
// means the chain refused it (r.Ex holds the refusal, 401 say).
func (p *Pipeline) notFound(r *Request, c *filters.Chain) (answer bool) {
	if c == nil {
		return true
	}
	if duplicated(r.h, r.RT.NotFoundCredentials) {
		r.Ex.Refuse(filters.ReasonDuplicateCredentials)
		return false
	}
	strip(r.h, r.RT.NotFoundIdentity)
	defer func() {
		if v := recover(); v != nil {
			p.Panicked(r, "not_found filter", v)
			answer = false
		}
		c.Finish(&r.Ex)
	}()
	v := c.Run(&r.Ex)
	if v.IsContinue() {
		return true
	}
	if r.Ex.Reason() == nil {
		r.Ex.Refuse(v.Reason())
	}
	return false
}

// checkParsed holds a parsed head to what CheckFields demands of the raw
// field bytes, for fasthttp's parser, more lenient than RFC 9112 (it reads
// bare LF, obs-fold and non-token names), on both engines (the event loop
// checks only the request line before parsing), plus the version and
// framing rules.
func checkParsed(h *fasthttp.RequestHeader) *filters.Reason {
	if reason := CheckVersion(h.Protocol()); reason != nil {
		return reason
	}
	if !CheckFields(h.RawHeaders()) || !ValidHost(h.Host()) {
		return filters.ReasonBadRequest
	}
	if h.ContentLength() == -1 && forward.HasContentLength(h.RawHeaders()) {
		// Transfer-Encoding and Content-Length together: the classic
		// request-smuggling ambiguity (RFC 9112 §6.3).
		return filters.ReasonAmbiguousFraming
	}
	return nil
}

// duplicated reports whether h carries one of the credential headers
// names more than once.
func duplicated(h *fasthttp.RequestHeader, names []string) bool {
	for _, name := range names {
		if forward.CountField(h.RawHeaders(), name) > 1 {
			return true
		}
	}
	return false
}

// strip deletes every client-sent field of the identity headers names
// (filters.IdentityForwarder), once, before the chain runs: only the
// proxy sets them, and a filter that deleted them itself would delete
// what an earlier filter of the chain set.
func strip(h *fasthttp.RequestHeader, names []string) {
	for _, name := range names {
		h.Del(name)
	}
}

// SetBody records the request body the engine buffered (nil when it is
// streamed) and the number of body bytes received or announced.
func (r *Request) SetBody(body []byte, n int64) {
	r.Ex.Body = body
	r.Ex.BytesIn = n
}

// FilterHead runs the filters of the route's chain that decide on the
// head alone (identity, policy, limits: every filter before the first one
// that reads the body), then refuses a declared body over the route's
// limit, so an anonymous client never costs a body read and a 413 names
// its principal. It reports whether the request may go on: the engine
// then reads the body and calls FilterBody.
//
// Both run behind a recovery boundary: a panicking filter refuses its
// request with 500 proxy.internal_error (recorded and counted in
// tollgate_http_panics_total) and every other request goes on. They touch
// only r, so an engine may run them off its event loop when the part may
// wait (Chain.HeadMayBlock, BodyMayBlock).
func (p *Pipeline) FilterHead(r *Request) bool {
	if !p.runFilters(r, phaseHead) {
		return false
	}
	if r.Ex.ContentLength > r.Limit {
		r.Ex.Refuse(filters.ReasonBodyTooLarge)
		return false
	}
	return true
}

// FilterBody runs the rest of the route's chain once the body is read.
func (p *Pipeline) FilterBody(r *Request) bool { return p.runFilters(r, phaseBody) }

// TryFilterHead is FilterHead for an engine that must not wait (an event
// loop): the head part runs up to the first filter that would have to
// wait (filters.Chain.TryRunHead). When it decided, done is true and
// allowed is what FilterHead would have returned; otherwise the engine
// calls ResumeFilters with resume where waiting is allowed. Same recovery
// boundary as FilterHead.
func (p *Pipeline) TryFilterHead(r *Request) (allowed bool, resume int, done bool) {
	allowed, resume, done = p.tryFilters(r, phaseHead)
	if done && allowed {
		allowed = p.bodyFits(r)
	}
	return allowed, resume, done
}

// TryFilterBody is TryFilterHead for the part run once the body is read.
func (p *Pipeline) TryFilterBody(r *Request) (allowed bool, resume int, done bool) {
	return p.tryFilters(r, phaseBody)
}

// ResumeFilters runs the rest of the part TryFilterHead or TryFilterBody
// stopped in, from resume, and reports whether the request may go on, as
// FilterHead or FilterBody would have. It may wait: engines call it off
// their event loop, and count that in tollgate_gnet_offloop_total
// (CountOffLoop).
func (p *Pipeline) ResumeFilters(r *Request, resume int) (allowed bool) {
	defer func() {
		if v := recover(); v != nil {
			p.Panicked(r, "filter", v)
			allowed = false
		}
	}()
	chain := r.Route.Chain
	if !p.settle(r, chain.Resume(&r.Ex, resume)) {
		return false
	}
	if chain.InHead(resume) {
		return p.bodyFits(r)
	}
	return true
}

// CountOffLoop counts a chain part an event-loop engine ran off its loop
// because a filter had to wait.
func (p *Pipeline) CountOffLoop() { p.offLoop.Inc() }

func (p *Pipeline) tryFilters(r *Request, phase int) (allowed bool, resume int, done bool) {
	defer func() {
		if v := recover(); v != nil {
			p.Panicked(r, "filter", v)
			allowed, done = false, true
		}
	}()
	var v filters.Verdict
	if phase == phaseHead {
		v, resume, done = r.Route.Chain.TryRunHead(&r.Ex)
	} else {
		v, resume, done = r.Route.Chain.TryRunBody(&r.Ex)
	}
	if !done {
		return false, resume, false
	}
	return p.settle(r, v), resume, true
}

// settle records a part's refusal on the exchange, if the filter did not,
// and reports whether v passes the request on.
func (p *Pipeline) settle(r *Request, v filters.Verdict) bool {
	if v.IsContinue() {
		return true
	}
	if r.Ex.Reason() == nil {
		r.Ex.Refuse(v.Reason())
	}
	return false
}

// bodyFits refuses a declared body over the route's limit once the head
// part allowed the request.
func (p *Pipeline) bodyFits(r *Request) bool {
	if r.Ex.ContentLength > r.Limit {
		r.Ex.Refuse(filters.ReasonBodyTooLarge)
		return false
	}
	return true
}

const (
	phaseHead = iota
	phaseBody
)

func (p *Pipeline) runFilters(r *Request, phase int) (allowed bool) {
	defer func() {
		if v := recover(); v != nil {
			p.Panicked(r, "filter", v)
			allowed = false
		}
	}()
	var v filters.Verdict
	if phase == phaseHead {
		v = r.Route.Chain.RunHead(&r.Ex)
	} else {
		v = r.Route.Chain.RunBody(&r.Ex)
	}
	if v.IsContinue() {
		return true
	}
	if r.Ex.Reason() == nil {
		r.Ex.Refuse(v.Reason())
	}
	return false
}

// Admit is the audit gate between an allowed request and its upstream.
// Under fail-closed, what cannot be recorded is not forwarded; in strict
// mode the decision record is written first. With done nil (an engine
// that may block) the decision record is written before Admit returns;
// otherwise it is queued (the engine then calls CommitAudit) and done is
// called once it is written, after which the engine calls Decided. wait
// reports that done will be called; ok false means r.Ex holds a refusal
// to answer now.
func (p *Pipeline) Admit(r *Request, done func(uint64, error)) (wait, ok bool) {
	rec := p.recorder
	if rec == nil {
		return false, true
	}
	refuse := rec.Refuse()
	if !refuse && rec.Strict() {
		if done == nil {
			refuse = rec.RecordDecision(&r.Ex, r.RT.Roles, time.Now()) != nil
		} else if rec.RecordDecisionFunc(&r.Ex, r.RT.Roles, time.Now(), done) == nil {
			return true, true
		} else {
			refuse = true
		}
	}
	if refuse {
		p.refuseUnrecorded(r)
		return false, false
	}
	return false, true
}

// Decided settles a strict-mode decision record that Admit queued: err is
// what done received. It reports whether the request may be forwarded.
func (p *Pipeline) Decided(r *Request, err error) bool {
	if err == nil {
		return true
	}
	p.recorder.DecisionFailed()
	p.throttled.Warn("cannot record the decision in the audit log; refusing the request", "err", err)
	p.refuseUnrecorded(r)
	return false
}

func (p *Pipeline) refuseUnrecorded(r *Request) {
	r.Ex.AddResponseHeader(forward.HeaderRetryAfter, strOne)
	r.Ex.Refuse(engine.ReasonAuditUnavailable)
}

// PrepareUpstream rewrites the request head in place for the upstream:
// the normalized target, hop-by-hop fields and Expect removed, the
// upstream's remove_headers and set_headers applied, and the forwarding
// headers set (an untrusted client's own X-Forwarded-*, Forwarded and
// X-Request-Id are replaced, a trusted proxy's extended).
func (p *Pipeline) PrepareUpstream(r *Request) {
	ex := &r.Ex
	h := r.h
	route := r.Route

	r.target = append(r.target[:0], ex.Path...)
	if len(ex.Query) > 0 {
		r.target = append(r.target, '?')
		r.target = append(r.target, ex.Query...)
	}
	h.SetRequestURIBytes(r.target)
	// The proxy speaks its own HTTP/1.1 upstream, whatever the client
	// spoke (RFC 9110 §6.2); the engines frame the answer for the client.
	h.SetProtocolBytes(strHTTP11)
	h.SetNoDefaultContentType(true)
	if b := h.Peek(fasthttp.HeaderContentLength); len(b) > 1 && b[0] == '0' {
		// "00003" is a valid length, but not every backend reads it so;
		// the goroutine engine's client rewrites it anyway.
		h.SetContentLength(h.ContentLength())
	}
	if len(ex.Host) == 0 {
		// HTTP/1.0 without Host: name the upstream, which HTTP/1.1 needs.
		h.SetHost(route.Info.Upstream)
	}

	// Expect is answered here or not at all, Forwarded is believed only
	// from a trusted proxy, and the upstream's remove_headers go too.
	remove := route.UpstreamRemove
	if r.Trusted {
		remove = route.UpstreamRemoveTrusted
	}
	r.scratch = forward.RemoveHopByHop(h, r.scratch, remove)
	for _, hv := range route.SetHeaders {
		h.SetCanonical(hv.Key, hv.Value)
	}

	// X-Forwarded-For: an untrusted client's own value is dropped, a
	// trusted proxy's chain is extended with its address.
	r.scratch = r.scratch[:0]
	if r.Trusted {
		if prev := h.Peek(forward.HeaderXFF); len(prev) > 0 {
			r.scratch = append(r.scratch, prev...)
			r.scratch = append(r.scratch, strComma...)
		}
	}
	r.scratch = ex.PeerIP.AppendTo(r.scratch)
	h.SetCanonical(keyXFF, r.scratch)

	if !r.Trusted || len(h.Peek(forward.HeaderXFProto)) == 0 {
		if ex.TLS {
			h.SetCanonical(keyXFProto, strHTTPS)
		} else {
			h.SetCanonical(keyXFProto, strHTTP)
		}
	}
	if !r.Trusted || len(h.Peek(forward.HeaderXFHost)) == 0 {
		h.SetCanonical(keyXFHost, ex.Host)
	}
	r.scratch = ex.ClientIP.AppendTo(r.scratch[:0])
	h.SetCanonical(keyXRealIP, r.scratch)
	h.SetCanonical(keyRequestID, ex.RequestID)
}

// Fixed values, kept as variables so the hot path builds no strings; the
// keys are in fasthttp's canonical form, so SetCanonical need not
// normalize them per request.
var (
	strHTTP      = []byte("http")
	strHTTPS     = []byte("https")
	strComma     = []byte(", ")
	strHTTP11    = []byte("HTTP/1.1")
	keyXFF       = []byte(forward.HeaderXFF)
	keyXFProto   = []byte(forward.HeaderXFProto)
	keyXFHost    = []byte(forward.HeaderXFHost)
	keyXRealIP   = []byte(forward.HeaderXRealIP)
	keyRequestID = []byte(forward.HeaderRequestID)
)
