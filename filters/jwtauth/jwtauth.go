package jwtauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/tokencache"
)

// Filter verifies bearer JWTs. It is safe for concurrent use by several
// routes' chains; Close stops its key refreshers.
type Filter struct {
	header   string // canonical name of the header carrying the token
	bearer   bool   // the header is Authorization: require the Bearer scheme
	optional bool
	noSub    bool  // accept tokens without sub (allow_no_subject)
	leeway   int64 // seconds
	iatSkew  int64 // seconds an iat may be in the future
	issuers  []*issuer
	roles    *filters.Roles
	scopes   *filters.Roles // the configuration's scope table, read at verification
	require  []claimReq     // require_claims, sorted by claim name

	fwdSubject, fwdRoles, fwdTenant string
	fwdCredential                   bool     // keep the token header for the upstream
	forwarded                       []string // the forwarded headers' names, for ForwardedHeaders

	cache  *tokencache.Cache[cacheEntry, *cacheEntry]
	tokens sync.Pool // *token
	now    func() time.Time
	m      *filterMetrics

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Interface guards.
var (
	_ filters.Filter            = (*Filter)(nil)
	_ filters.IdentityForwarder = (*Filter)(nil)
)

// Name implements filters.Filter.
func (f *Filter) Name() string { return "jwtauth" }

// Metrics returns the filter's metric set, to be registered by the engine
// for as long as the filter's config generation serves traffic.
func (f *Filter) Metrics() *metrics.Set { return f.m.set }

// Close stops the background key refreshers and waits for them. It is
// safe to call more than once.
func (f *Filter) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		f.wg.Wait()
		for _, is := range f.issuers {
			if is.client != nil {
				is.client.CloseIdleConnections()
			}
		}
	})
	return nil
}

// Handle implements filters.Filter: it accepts a verified token (filling
// ex.Identity and the forwarded headers), lets an anonymous request
// through on an optional route, or refuses with a precise reason.
// Client-sent copies of the forwarded headers are already gone: the
// pipeline deletes them before the chain runs (ForwardedHeaders).
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	raw := f.credential(ex.Header(f.header))
	if raw == nil {
		if f.optional {
			f.m.anonymous.Inc()
			return filters.Continue
		}
		return f.refuse(ex, &refusals[refMissing], "")
	}
	now := f.now()
	var h1, h2 uint64
	if f.cache != nil {
		// Fast path: a token verified before, still in date, whose key the
		// issuer still publishes.
		h1, h2 = f.cache.Hash(raw)
		if e := f.cache.Get(h1, h2); e != nil && now.Unix() < e.deadline && e.epoch == f.issuers[e.issuer].epoch() {
			f.m.hits.Inc()
			return f.apply(ex, &e.p)
		}
	}
	return f.verify(ex, raw, now, h1, h2)
}

// credential extracts the token from the header value v, or returns nil
// when there is none.
func (f *Filter) credential(v []byte) []byte { return filters.BearerToken(v, f.bearer) }

// apply records a verified principal on ex and forwards it upstream, or
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
	id.KeyID = append(id.KeyID[:0], p.kid...)
	id.Roles = p.roles
	id.Scopes = p.scopes
	id.Method = filters.AuthJWT
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

// refuse answers with r: an RFC 6750 challenge, optional detail, a metric.
func (f *Filter) refuse(ex *filters.Exchange, r *refusal, detail string) filters.Verdict {
	if r.www != nil {
		ex.AddResponseHeader(headerWWWAuthenticate, r.www)
	}
	if detail != "" {
		ex.AppendDetailString(detail)
	}
	f.m.refusals[r.idx].Inc()
	return filters.Respond(r.reason)
}

// verify is the slow path: parse, verify and check a token not found in
// the cache, then cache and apply it.
func (f *Filter) verify(ex *filters.Exchange, raw []byte, now time.Time, h1, h2 uint64) filters.Verdict {
	t := f.tokens.Get().(*token)
	t.reset()
	defer func() {
		t.reset() // drop references to the request's bytes
		f.tokens.Put(t)
	}()
	is, r := f.check(t, raw, now)
	if r != nil {
		f.hints(ex, t)
		return f.refuse(ex, r, t.detail)
	}
	e, r := f.entry(t, is, h1, h2)
	if r != nil {
		f.hints(ex, t)
		return f.refuse(ex, r, t.detail)
	}
	if f.cache != nil {
		f.cache.Put(e, now.Unix())
	}
	f.m.misses.Inc()
	return f.apply(ex, &e.p)
}

// check runs every test a token must pass, in an order that never tells
// an unauthenticated caller more than it knows: syntax, header policy,
// issuer, algorithm, key, signature, and only then the claims (RFC 8725
// §3).
func (f *Filter) check(t *token, raw []byte, now time.Time) (*issuer, *refusal) {
	switch t.parse(raw) {
	case parseMalformed:
		return nil, &refusals[refMalformed]
	case parseHeaderForbidden:
		t.detail = forbiddenDetail(t.forbidden)
		return nil, &refusals[refHeaderNotAllowed]
	}
	switch t.alg {
	case algNone: // RFC 8725 §3.1: unsecured JWTs are never accepted
		t.detail = `alg "none" is refused`
		return nil, &refusals[refAlgNotAllowed]
	case algUnknown:
		t.detail = "alg is not supported"
		return nil, &refusals[refAlgNotAllowed]
	}
	is := f.issuerFor(t)
	if is == nil {
		t.detail = "iss is not a configured issuer"
		return nil, &refusals[refWrongIssuer]
	}
	if !is.algs.has(t.alg) {
		t.detail = "alg is not allowed for this issuer"
		return nil, &refusals[refAlgNotAllowed]
	}
	if t.alg.isHMAC() {
		if !is.hmac.verify(t.alg, t.signingInput, t.sig) {
			return is, &refusals[refBadSignature]
		}
	} else {
		ks := is.keys.Load()
		if ks == nil {
			is.requestRefresh()
			return is, &refusals[refKeysUnavailable]
		}
		k, st := ks.find(t.kid, t.hasKID, t.alg)
		switch st {
		case keyUnknown:
			is.requestRefresh()
			t.detail = "kid is not in the issuer's key set"
			return is, &refusals[refUnknownKey]
		case keyAmbiguous:
			t.detail = "token has no kid and several keys fit its alg"
			return is, &refusals[refUnknownKey]
		case keyWrongType:
			t.detail = "the key named by kid does not fit alg"
			return is, &refusals[refAlgNotAllowed]
		}
		if !verifySignature(t.alg, k, t.signingInput, t.sig) {
			return is, &refusals[refBadSignature]
		}
	}
	sec := now.Unix()
	if !t.hasExp { // a token without exp would be good forever
		t.detail = "exp claim is required"
		return is, &refusals[refMalformed]
	}
	if sec >= t.exp+f.leeway { // RFC 7519 §4.1.4
		return is, &refusals[refExpired]
	}
	if t.hasNbf && sec+f.leeway < t.nbf { // RFC 7519 §4.1.5
		t.detail = "nbf is in the future"
		return is, &refusals[refNotYetValid]
	}
	if (!t.hasSub || len(t.sub) == 0) && !f.noSub {
		// RFC 7519 makes sub optional; an access proxy needs a principal
		// to attribute the request to before it grants the token's roles.
		t.detail = "sub claim is required"
		return is, &refusals[refMalformed]
	}
	if t.hasIat && sec+f.iatSkew < t.iat { // RFC 7519 §4.1.6
		t.detail = "iat is in the future"
		return is, &refusals[refNotYetValid]
	}
	var scratch [512]byte
	if !t.hasAud || !audMatches(t.aud, is.audiences, scratch[:0]) { // RFC 7519 §4.1.3
		return is, &refusals[refWrongAudience]
	}
	if r := checkClaims(f.require, t.payload); r != nil {
		t.detail = r.mismatch
		if v := lookupPath(t.payload, r.path); len(v) == 0 || v[0] == 'n' {
			t.detail = r.missing
		}
		return is, &refusals[refClaimRequired]
	}
	return is, nil
}

func forbiddenDetail(name string) string {
	switch name {
	case "crit":
		return "crit names an extension this verifier does not implement"
	case "jwk":
		return "an embedded jwk is refused"
	case "jku":
		return "a jku key URL is refused"
	case "x5u":
		return "an x5u certificate URL is refused"
	}
	return "an embedded x5c certificate chain is refused"
}

// issuerFor returns the configured issuer named by the token's iss.
func (f *Filter) issuerFor(t *token) *issuer {
	if !t.hasIss {
		return nil
	}
	for _, is := range f.issuers {
		if string(is.nameB) == string(t.iss) {
			return is
		}
	}
	return nil
}

// entry builds the cache entry for a verified token: subject, tenant and
// roles copied into one allocation.
func (f *Filter) entry(t *token, is *issuer, h1, h2 uint64) (*cacheEntry, *refusal) {
	var tenant []byte
	if is.tenantPath != nil {
		if v := lookupPath(t.payload, is.tenantPath); v != nil {
			if s, rest, ok := stringValue(v, t.str); ok {
				tenant, t.str = s, rest
			}
		}
	}
	if hasControl(t.sub) || hasControl(tenant) {
		t.detail = "sub or tenant holds control characters"
		return nil, &refusals[refMalformed]
	}
	roles := f.claimedRoles(t, is)
	n := len(t.sub) + len(tenant) + len(is.nameB) + len(t.kid)
	var names int
	for i := 0; i < filters.MaxRoles; i++ {
		if roles.Has(i) {
			names += len(f.roles.Name(i)) + 1
		}
	}
	buf := make([]byte, 0, n+names)
	cut := func(b []byte) []byte {
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	e := &cacheEntry{h1: h1, h2: h2, deadline: t.exp + f.leeway, epoch: is.epoch(), issuer: is.idx}
	e.p.subject = cut(t.sub)
	e.p.tenant = cut(tenant)
	e.p.issuer = cut(is.nameB)
	e.p.kid = cut(t.kid)
	e.p.roles = roles
	e.p.scopes = f.claimedScopes(t.payload)
	start := len(buf)
	for i := 0; i < filters.MaxRoles; i++ {
		if roles.Has(i) {
			if len(buf) > start {
				buf = append(buf, ',')
			}
			buf = append(buf, f.roles.Name(i)...)
		}
	}
	e.p.rolesHeader = buf[start:]
	return e, nil
}

// claimedRoles maps the role names at the issuer's roles claim path to
// role bits: an array of strings (roles, groups, realm_access.roles) or a
// space-separated string (scope, RFC 8693 §4.2). Names no rule uses are
// ignored.
func (f *Filter) claimedRoles(t *token, is *issuer) filters.RoleSet {
	if f.roles == nil || is.rolesPath == nil {
		return 0
	}
	return claimedSet(lookupPath(t.payload, is.rolesPath), f.roles)
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// Hint sizes: unverified values are cut so a refusal never copies much of
// what a client sent.
const (
	maxHintIssuer = 256
	maxHintKID    = 128
)

// hints records what a refused token claimed, flagged unverified: issuer,
// kid, and a hash of sub — never the token or the subject itself.
func (f *Filter) hints(ex *filters.Exchange, t *token) {
	id := &ex.Identity
	id.Method = filters.AuthJWT
	id.Verified = false
	id.Roles, id.Scopes = 0, 0
	id.Subject, id.Tenant = id.Subject[:0], id.Tenant[:0]
	id.Issuer = appendCapped(id.Issuer[:0], t.iss, maxHintIssuer)
	id.KeyID = appendCapped(id.KeyID[:0], t.kid, maxHintKID)
	if t.hasSub {
		sum := sha256.Sum256(t.sub)
		id.Subject = append(id.Subject, "sha256:"...)
		id.Subject = hex.AppendEncode(id.Subject, sum[:12])
	}
}

func appendCapped(dst, b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return append(dst, b...)
}

// CredentialHeaders implements filters.CredentialReader.
func (f *Filter) CredentialHeaders() []string { return []string{f.header} }

// ForwardedHeaders implements filters.IdentityForwarder.
func (f *Filter) ForwardedHeaders() []string { return f.forwarded }
