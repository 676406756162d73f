package introspect

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/tokencache"
)

// Filter authenticates opaque bearer tokens by RFC 7662 introspection. It
// is safe for concurrent use by several routes' chains; Close releases
// its idle connections to the authorization server.
type Filter struct {
	header   string // canonical name of the header carrying the token
	bearer   bool   // the header is Authorization: require the Bearer scheme
	optional bool
	leeway   int64 // seconds

	endpoint   string
	basicAuth  string // precomputed Authorization value of the client
	client     *http.Client
	timeout    time.Duration
	sem        chan struct{} // bounds concurrent calls to the server
	issuer     string        // required iss, or ""
	defaultIss []byte        // Identity.Issuer when the response has no iss
	audiences  []string      // accepted aud values; empty: aud not checked
	rolesPath  []string
	tenantPath []string
	roles      *filters.Roles
	scopes     *filters.Roles // the configuration's scope table, read when a token is judged
	require    []claimReq     // require_claims, sorted by claim name

	maxTTL, negativeTTL int64 // nanoseconds

	fwdSubject, fwdRoles, fwdTenant string
	fwdCredential                   bool     // keep the token header for the upstream
	forwarded                       []string // the forwarded headers' names, for ForwardedHeaders

	cache   *tokencache.Cache[entry, *entry]
	flights flights
	now     func() time.Time
	m       *filterMetrics

	closeOnce sync.Once
}

// Interface guards.
var (
	_ filters.Filter = (*Filter)(nil)
	_ filters.Waiter = (*Filter)(nil)
	_ io.Closer      = (*Filter)(nil)
)

// Name implements filters.Filter.
func (f *Filter) Name() string { return "introspect" }

// Metrics returns the filter's metric set, to be registered by the engine
// for as long as the filter's config generation serves traffic.
func (f *Filter) Metrics() *metrics.Set { return f.m.set }

// MayBlock reports that Handle can wait for the network: a token the cache
// does not know is judged by a call to the authorization server, bounded
// by the configured timeout. Engines that run filters on an event loop
// ask TryHandle first and leave the loop only on a cache miss.
func (f *Filter) MayBlock() bool { return true }

// Close releases idle connections to the authorization server. Calls in
// flight finish within their timeout. It is safe to call more than once.
func (f *Filter) Close() error {
	f.closeOnce.Do(func() { f.client.CloseIdleConnections() })
	return nil
}

// Handle implements filters.Filter: it accepts an active token (filling
// ex.Identity and the forwarded headers), lets an anonymous request
// through on an optional route, or refuses with a precise reason.
// Client-sent copies of the forwarded headers are already gone: the
// pipeline deletes them before the chain runs (ForwardedHeaders).
//
// A token found in the cache — accepted or refused — is answered without
// allocating or blocking. A token the cache does not know is introspected
// on the calling goroutine, bounded by the timeout; concurrent requests
// presenting the same token share that one call.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	if v, ok := f.decide(ex); ok {
		return v
	}
	raw := f.credential(ex.Header(f.header))
	var h1, h2 uint64
	if f.cache != nil {
		h1, h2 = f.cache.Hash(raw)
	} else {
		h1, h2 = f.flightHash(raw)
	}
	return f.miss(ex, raw, flightKey{h1, h2})
}

// TryHandle implements filters.Waiter: it decides as Handle does when no
// call to the server is needed — no token, a malformed one, or a token
// whose judgement (accepted or refused) is cached — and otherwise says it
// would wait. An undecided TryHandle leaves no trace.
func (f *Filter) TryHandle(ex *filters.Exchange) (filters.Verdict, bool) {
	return f.decide(ex)
}

// decide answers what needs no call to the server; ok is false for a
// token the cache does not know.
func (f *Filter) decide(ex *filters.Exchange) (v filters.Verdict, ok bool) {
	raw := f.credential(ex.Header(f.header))
	if raw == nil {
		if f.optional {
			f.m.anonymous.Inc()
			return filters.Continue, true
		}
		return f.refuse(ex, &refusals[refMissing], ""), true
	}
	if !validToken(raw) {
		return f.refuse(ex, &refusals[refMalformed], "the token is not an RFC 6750 b64token"), true
	}
	if f.cache != nil {
		// Fast path: a token judged before, still in date.
		h1, h2 := f.cache.Hash(raw)
		if e := f.cache.Get(h1, h2); e != nil && f.now().UnixNano() < e.deadline {
			f.m.hits.Inc()
			return f.answer(ex, e, true), true
		}
	}
	return filters.Continue, false
}

// flightHash keys the in-flight table when the cache is disabled.
func (f *Filter) flightHash(raw []byte) (uint64, uint64) {
	sum := sha256.Sum256(raw)
	var a, b uint64
	for i := 0; i < 8; i++ {
		a = a<<8 | uint64(sum[i])
		b = b<<8 | uint64(sum[8+i])
	}
	return a, b
}

// answer applies a judged entry: the principal, or its refusal with the
// token's fingerprint as an unverified hint.
func (f *Filter) answer(ex *filters.Exchange, e *entry, cached bool) filters.Verdict {
	if e.ref != nil {
		hint(ex, e.p.keyID)
		return f.refuse(ex, e.ref, e.detail)
	}
	if v := f.apply(ex, &e.p); !v.IsContinue() {
		return v
	}
	if cached {
		f.m.acceptedHit.Inc()
	} else {
		f.m.acceptedMiss.Inc()
	}
	return filters.Continue
}

// miss is the slow path: join or lead the introspection of a token the
// cache does not know.
func (f *Filter) miss(ex *filters.Exchange, raw []byte, k flightKey) filters.Verdict {
	f.m.misses.Inc()
	c, leader := f.flights.join(k)
	if leader {
		func() {
			defer f.flights.land(k, c) // publish even if judging failed
			c.e, c.failure = f.introspect(raw, k)
		}()
	} else {
		f.m.shared.Inc()
		t := time.NewTimer(f.timeout + time.Second)
		select {
		case <-c.done:
			t.Stop()
		case <-t.C:
			// The leader is bounded by the timeout; this is a safety net.
			hint(ex, fingerprint(nil, raw))
			return f.refuse(ex, &refusals[refUnavailable], "the introspection call did not finish")
		}
	}
	if c.e == nil {
		hint(ex, fingerprint(nil, raw))
		return f.refuse(ex, &refusals[refUnavailable], c.failure)
	}
	return f.answer(ex, c.e, false)
}

// introspect asks the server about raw and judges the answer into an
// entry, caching it; it returns a nil entry and a detail on failure.
func (f *Filter) introspect(raw []byte, k flightKey) (*entry, string) {
	select {
	case f.sem <- struct{}{}:
		defer func() { <-f.sem }()
	default:
		f.m.calls[resultOverloaded].Inc()
		return nil, "too many introspection calls in flight"
	}
	start := time.Now()
	body, res, detail := f.call(raw)
	f.m.duration.UpdateDuration(start)
	if res != resultOK {
		f.m.calls[res].Inc()
		return nil, detail
	}
	r, err := parseResponse(body, f.rolesPath, f.tenantPath)
	if err != nil {
		f.m.calls[resultBadResponse].Inc()
		return nil, "the introspection response is invalid"
	}
	now := f.now().UnixNano()
	e, ok := f.judge(r, raw, k, now)
	if !ok {
		f.m.calls[resultBadResponse].Inc()
		return nil, "the introspection response is invalid"
	}
	if r.active {
		f.m.calls[resultActive].Inc()
	} else {
		f.m.calls[resultInactive].Inc()
	}
	if f.cache != nil && now < e.deadline {
		f.cache.Put(e, now)
	}
	return e, ""
}

// Field bounds: values are forwarded in headers, so they must be short and
// free of control characters.
const maxFieldLen = 1024

// judge turns a response into an entry: the principal of an active token
// that passes the configured checks, or a refusal. It reports false for a
// response whose fields cannot be forwarded safely.
func (f *Filter) judge(r *response, raw []byte, k flightKey, now int64) (*entry, bool) {
	e := &entry{h1: k[0], h2: k[1]}
	e.p.keyID = fingerprint(nil, raw)
	refuse := func(idx int) (*entry, bool) {
		e.ref = &refusals[idx]
		e.deadline = now + f.negativeTTL
		return e, true
	}
	if !r.active {
		return refuse(refInactive)
	}
	if f.issuer != "" && r.iss != f.issuer {
		return refuse(refWrongIssuer)
	}
	if len(f.audiences) > 0 && !audienceMatches(r.aud, f.audiences) {
		return refuse(refWrongAudience)
	}
	sec := now / int64(time.Second)
	if r.hasExp && sec >= r.exp+f.leeway { // RFC 7662 §2.2, RFC 7519 §4.1.4
		return refuse(refExpired)
	}
	if r.hasNbf && sec+f.leeway < r.nbf { // RFC 7519 §4.1.5
		return refuse(refNotYetValid)
	}
	if d := checkClaims(f.require, r.members); d != "" {
		e.detail = d
		return refuse(refClaimRequired)
	}
	subject := r.sub
	if subject == "" {
		subject = r.clientID // a client-credentials token names its client
	}
	if !safeField(subject) || !safeField(r.tenant) || !safeField(r.iss) {
		return nil, false
	}
	iss := f.defaultIss
	if r.iss != "" {
		iss = []byte(r.iss)
	}
	var set filters.RoleSet
	if f.roles != nil {
		for _, name := range r.roles {
			if i, ok := f.roles.Lookup([]byte(name)); ok {
				set |= 1 << uint(i)
			}
		}
	}
	var rolesHeader []byte
	for i := 0; i < filters.MaxRoles; i++ {
		if set.Has(i) {
			if len(rolesHeader) > 0 {
				rolesHeader = append(rolesHeader, ',')
			}
			rolesHeader = append(rolesHeader, f.roles.Name(i)...)
		}
	}
	e.p.scopes = f.scopeSet(r.scope)
	e.p.subject = []byte(subject)
	e.p.tenant = []byte(r.tenant)
	e.p.issuer = iss
	e.p.roles = set
	e.p.rolesHeader = rolesHeader
	// Cached until the token expires, and never longer than max_ttl, so a
	// revoked token is refused again within max_ttl.
	e.deadline = now + f.maxTTL
	if r.hasExp && r.exp < e.deadline/int64(time.Second) {
		e.deadline = r.exp * int64(time.Second)
	}
	return e, true
}

// scopeSet maps the response's scope member (space-separated, RFC 7662
// §2.2) to bits of the configuration's scope table; names no rule uses
// are ignored. It runs when a token is judged, after every filter of the
// configuration was built, so the table is complete whatever the order in
// which filters were constructed.
func (f *Filter) scopeSet(scope string) filters.RoleSet {
	if f.scopes == nil {
		return 0
	}
	var set filters.RoleSet
	for _, name := range strings.Fields(scope) {
		if i, ok := f.scopes.Lookup([]byte(name)); ok {
			set |= 1 << uint(i)
		}
	}
	return set
}

func audienceMatches(got, want []string) bool {
	for _, g := range got {
		for _, w := range want {
			if g == w {
				return true
			}
		}
	}
	return false
}

func safeField(s string) bool {
	if len(s) > maxFieldLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// FingerprintLen is the length in bytes of the SHA-256 prefix of a token
// recorded, hex-encoded, as the identity's KeyID.
const FingerprintLen = 8

// fingerprint appends the token's fingerprint: the first FingerprintLen
// bytes of SHA-256(token), hex — enough to correlate requests in the audit
// log, useless for replay.
func fingerprint(dst, raw []byte) []byte {
	sum := sha256.Sum256(raw)
	return hex.AppendEncode(dst, sum[:FingerprintLen])
}

// credential extracts the token from the header value v, or returns nil
// when there is none.
func (f *Filter) credential(v []byte) []byte { return filters.BearerToken(v, f.bearer) }

// MaxTokenLen bounds the tokens sent to the server; longer ones are
// refused as malformed without a call.
const MaxTokenLen = 16 << 10

// validToken reports whether raw is an RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Anything
// else is refused before it costs a call to the server.
func validToken(raw []byte) bool {
	if len(raw) == 0 || len(raw) > MaxTokenLen {
		return false
	}
	i := 0
	for ; i < len(raw); i++ {
		c := raw[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(raw); i++ {
		if raw[i] != '=' {
			return false
		}
	}
	return true
}

// apply records an accepted principal on ex and forwards it upstream, or
// refuses the request when an API key an earlier filter verified names
// another principal.
func (f *Filter) apply(ex *filters.Exchange, p *principal) filters.Verdict {
	id := &ex.Identity
	if filters.ConflictsWithKey(id, p.subject, p.tenant) {
		filters.Unattributed(id)
		return f.refuse(ex, &refusals[refConflict], "")
	}
	id.Subject = append(id.Subject[:0], p.subject...)
	id.Tenant = append(id.Tenant[:0], p.tenant...)
	id.Issuer = append(id.Issuer[:0], p.issuer...)
	id.KeyID = append(id.KeyID[:0], p.keyID...)
	id.Roles = p.roles
	id.Scopes = p.scopes
	id.Method = filters.AuthIntrospection
	id.Verified = true
	if f.fwdSubject != "" && len(p.subject) > 0 {
		ex.SetHeader(f.fwdSubject, p.subject)
	}
	if f.fwdRoles != "" && len(p.rolesHeader) > 0 {
		ex.SetHeader(f.fwdRoles, p.rolesHeader)
	}
	if f.fwdTenant != "" && len(p.tenant) > 0 {
		ex.SetHeader(f.fwdTenant, p.tenant)
	}
	if !f.fwdCredential {
		ex.DelHeader(f.header)
	}
	return filters.Continue
}

// hint records a refused token on the exchange, flagged unverified: its
// fingerprint, never the token.
func hint(ex *filters.Exchange, keyID []byte) {
	id := &ex.Identity
	id.Subject, id.Tenant, id.Issuer = id.Subject[:0], id.Tenant[:0], id.Issuer[:0]
	id.KeyID = append(id.KeyID[:0], keyID...)
	id.Roles, id.Scopes = 0, 0
	id.Method = filters.AuthIntrospection
	id.Verified = false
}

// refuse answers with r: its challenge or Retry-After, optional detail, a
// metric.
func (f *Filter) refuse(ex *filters.Exchange, r *refusal, detail string) filters.Verdict {
	if r.www != nil {
		ex.AddResponseHeader(headerWWWAuthenticate, r.www)
	}
	if r.retryAfter != nil {
		ex.AddResponseHeader(headerRetryAfter, r.retryAfter)
	}
	if detail != "" {
		ex.AppendDetailString(detail)
	}
	f.m.refusals[r.idx].Inc()
	return filters.Respond(r.reason)
}

// CredentialHeaders implements filters.CredentialReader.
func (f *Filter) CredentialHeaders() []string { return []string{f.header} }

// ForwardedHeaders implements filters.IdentityForwarder.
func (f *Filter) ForwardedHeaders() []string { return f.forwarded }
