package introspect

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestActiveToken(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "tenant_claim: ext.tenant\nissuer: https://idp.test\n", c)
	p.set("tok-alice", active("alice", c.unix()+3600, `"iss":"https://idp.test","scope":"viewer admin unknown","ext":{"tenant":"acme"}`))

	code, ex, h := run(t, f, "Bearer tok-alice", "X-Auth-Subject", "forged", "X-Auth-Roles", "admin", "X-Auth-Tenant", "evil")
	if code != "" {
		t.Fatalf("refused: %s %s", code, ex.Detail())
	}
	id := &ex.Identity
	if !id.Verified || id.Method != filters.AuthIntrospection {
		t.Fatalf("identity not verified by introspection: %+v", id)
	}
	if string(id.Subject) != "alice" || string(id.Tenant) != "acme" || string(id.Issuer) != "https://idp.test" {
		t.Errorf("identity = sub %q tenant %q iss %q", id.Subject, id.Tenant, id.Issuer)
	}
	if id.Roles != 1<<0|1<<2 {
		t.Errorf("roles = %b, want viewer and admin", id.Roles)
	}
	if string(id.KeyID) != fp("tok-alice") || len(id.KeyID) != 2*FingerprintLen {
		t.Errorf("KeyID = %q, want the token fingerprint", id.KeyID)
	}
	if h.Get("X-Auth-Subject") != "alice" || h.Get("X-Auth-Roles") != "viewer,admin" || h.Get("X-Auth-Tenant") != "acme" {
		t.Errorf("forwarded = %q %q %q", h.Get("X-Auth-Subject"), h.Get("X-Auth-Roles"), h.Get("X-Auth-Tenant"))
	}
	if p.hits.Load() != 1 {
		t.Errorf("server hits = %d, want 1", p.hits.Load())
	}
}

func TestSubjectFallsBackToClientID(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("machine", `{"active":true,"client_id":"billing-batch","exp":`+itoa64(c.unix()+60)+`}`)
	code, ex, h := run(t, f, "bearer machine")
	if code != "" || string(ex.Identity.Subject) != "billing-batch" || h.Get("X-Auth-Subject") != "billing-batch" {
		t.Fatalf("code %q subject %q", code, ex.Identity.Subject)
	}
	if string(ex.Identity.Issuer) != p.url {
		t.Errorf("issuer = %q, want the endpoint when the response has no iss", ex.Identity.Issuer)
	}
}

func TestRefusals(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "issuer: https://idp.test\naudiences: [orders, billing]\nleeway: 10s\n", c)
	now := c.unix()
	iss := `"iss":"https://idp.test","aud":["x","orders"]`
	p.set("inactive", `{"active":false}`)
	p.set("expired", active("a", now-11, iss))
	p.set("in-leeway", active("a", now-5, iss))
	p.set("future", active("a", now+3600, iss+`,"nbf":`+itoa64(now+60)))
	p.set("other-iss", active("a", now+3600, `"iss":"https://evil.test","aud":"orders"`))
	p.set("no-iss", active("a", now+3600, `"aud":"orders"`))
	p.set("other-aud", active("a", now+3600, `"iss":"https://idp.test","aud":"payments"`))
	p.set("no-aud", active("a", now+3600, `"iss":"https://idp.test"`))
	p.set("aud-string", active("a", now+3600, `"iss":"https://idp.test","aud":"billing"`))

	cases := []struct {
		name, auth, code string
		calls            int64 // server calls this request makes
		www              string
	}{
		{"no header", "", "authn.token_missing", 0, "Bearer"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "authn.token_missing", 0, "Bearer"},
		{"bare scheme", "Bearer ", "authn.token_missing", 0, "Bearer"},
		{"space inside", "Bearer a b", "authn.token_malformed", 0, `error="invalid_token"`},
		{"bad character", "Bearer a%62", "authn.token_malformed", 0, `error="invalid_token"`},
		{"padding inside", "Bearer ab=c", "authn.token_malformed", 0, `error="invalid_token"`},
		{"too long", "Bearer " + strings.Repeat("a", MaxTokenLen+1), "authn.token_malformed", 0, `error="invalid_token"`},
		{"inactive", "Bearer inactive", "authn.token_inactive", 1, `error="invalid_token", error_description="the token is not active"`},
		{"unknown", "Bearer never-issued==", "authn.token_inactive", 1, `error="invalid_token"`},
		{"expired", "Bearer expired", "authn.token_expired", 1, `error="invalid_token"`},
		{"not yet valid", "Bearer future", "authn.token_not_yet_valid", 1, `error="invalid_token"`},
		{"wrong issuer", "Bearer other-iss", "authn.wrong_issuer", 1, `error="invalid_token"`},
		{"missing issuer", "Bearer no-iss", "authn.wrong_issuer", 1, `error="invalid_token"`},
		{"wrong audience", "Bearer other-aud", "authn.wrong_audience", 1, `error="invalid_token"`},
		{"missing audience", "Bearer no-aud", "authn.wrong_audience", 1, `error="invalid_token"`},
		{"expired within leeway", "Bearer in-leeway", "", 1, ""},
		{"aud as a string", "BEARER aud-string", "", 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := p.hits.Load()
			code, ex, h := run(t, f, tc.auth)
			if code != tc.code {
				t.Fatalf("code = %q, want %q (detail %s)", code, tc.code, ex.Detail())
			}
			if got := p.hits.Load() - before; got != tc.calls {
				t.Errorf("server calls = %d, want %d", got, tc.calls)
			}
			if www := respHeader(ex, "WWW-Authenticate"); !strings.Contains(www, tc.www) || (tc.www == "Bearer" && www != "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want %q", www, tc.www)
			}
			if code == "" {
				return
			}
			if h.Get("X-Auth-Subject") != "" {
				t.Errorf("a refusal set X-Auth-Subject")
			}
			id := &ex.Identity
			if id.Verified || id.Roles != 0 || len(id.Subject) != 0 {
				t.Errorf("refused request has a verified identity: %+v", id)
			}
			if tc.calls > 0 {
				tok := strings.TrimSpace(tc.auth[len("Bearer"):])
				if string(id.KeyID) != fp(tok) || id.Method != filters.AuthIntrospection {
					t.Errorf("hint = %q (%v), want the fingerprint", id.KeyID, id.Method)
				}
			}
		})
	}
}

func TestCaching(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("tok", active("alice", c.unix()+3600, `"scope":"viewer"`))
	for i := 0; i < 5; i++ {
		if code, ex, _ := run(t, f, "Bearer tok"); code != "" || string(ex.Identity.Subject) != "alice" || ex.Identity.Roles != 1 {
			t.Fatalf("request %d: code %q identity %+v", i, code, ex.Identity)
		}
		c.advance(time.Second)
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("server hits = %d, want 1 (cached)", n)
	}
	if hits := f.m.acceptedHit.Get(); hits != 4 {
		t.Errorf("accepted from cache = %d, want 4", hits)
	}
}

func TestNegativeCaching(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	for i := 0; i < 5; i++ {
		if code, ex, _ := run(t, f, "Bearer garbage"); code != "authn.token_inactive" || string(ex.Identity.KeyID) != fp("garbage") {
			t.Fatalf("request %d: code %q hint %q", i, code, ex.Identity.KeyID)
		}
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("server hits = %d, want 1 (negative result cached)", n)
	}
	c.advance(defaultNegativeTTL + time.Second)
	run(t, f, "Bearer garbage")
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("server hits = %d after negative_ttl, want 2", n)
	}
	// A token that becomes active is seen as soon as the negative entry
	// expires.
	p.set("garbage", active("late", c.unix()+3600, ""))
	c.advance(defaultNegativeTTL + time.Second)
	if code, _, _ := run(t, f, "Bearer garbage"); code != "" {
		t.Fatalf("code = %q after the token became active", code)
	}

	off := newTestFilter(t, p, "cache: {negative_ttl: 0s}\n", c)
	before := p.hits.Load()
	for i := 0; i < 3; i++ {
		run(t, off, "Bearer other")
	}
	if n := p.hits.Load() - before; n != 3 {
		t.Errorf("negative_ttl 0: server hits = %d, want 3", n)
	}
}

func TestExpHonoured(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "leeway: 30s\n", c)
	p.set("tok", active("alice", c.unix()+60, ""))
	step := func(advance time.Duration, wantCode string, wantHits int64) {
		t.Helper()
		c.advance(advance)
		if code, _, _ := run(t, f, "Bearer tok"); code != wantCode {
			t.Fatalf("code = %q, want %q", code, wantCode)
		}
		if n := p.hits.Load(); n != wantHits {
			t.Fatalf("server hits = %d, want %d", n, wantHits)
		}
	}
	step(0, "", 1)
	step(59*time.Second, "", 1)                    // cached until exp
	step(2*time.Second, "", 2)                     // past exp: asked again, still within leeway
	step(30*time.Second, "authn.token_expired", 3) // past exp + leeway
	step(time.Second, "authn.token_expired", 3)    // remembered as refused
	step(defaultNegativeTTL, "authn.token_expired", 4)
}

func TestMaxTTL(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "cache: {max_ttl: 1m}\n", c)
	p.set("tok", active("alice", c.unix()+86400, ""))
	run(t, f, "Bearer tok")
	c.advance(59 * time.Second)
	run(t, f, "Bearer tok")
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("server hits = %d within max_ttl, want 1", n)
	}
	// Revoked meanwhile: the next question after max_ttl sees it.
	p.set("tok", `{"active":false}`)
	c.advance(2 * time.Second)
	if code, _, _ := run(t, f, "Bearer tok"); code != "authn.token_inactive" {
		t.Fatalf("code = %q after max_ttl and revocation", code)
	}
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("server hits = %d after max_ttl, want 2", n)
	}
}

func TestSingleflight(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("shared", active("alice", c.unix()+3600, ""))
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()

	const n = 16
	codes := make([]string, n)
	subjects := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := filtertest.NewStaticHeaders("Authorization", "Bearer shared")
			ex := exchange(h)
			defer filters.ReleaseExchange(ex)
			if v := f.Handle(ex); !v.IsContinue() {
				codes[i] = v.Reason().Code
			}
			subjects[i] = string(ex.Identity.Subject)
		}()
	}
	// Wait until every request is either the leader or waiting on it.
	h1, h2 := f.cache.Hash([]byte("shared"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if cl := f.flights.inFlight(flightKey{h1, h2}); cl != nil && cl.waiters.Load() == n-1 {
			break
		}
		if time.Now().After(deadline) {
			close(gate)
			wg.Wait()
			t.Fatalf("requests did not all join one call (server hits %d)", p.hits.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if hits := p.hits.Load(); hits != 1 {
		t.Fatalf("server hits = %d for %d concurrent requests, want 1", hits, n)
	}
	for i := range codes {
		if codes[i] != "" || subjects[i] != "alice" {
			t.Fatalf("request %d: code %q subject %q", i, codes[i], subjects[i])
		}
	}
	if got := f.m.shared.Get(); got != n-1 {
		t.Errorf("shared = %d, want %d", got, n-1)
	}
}

func TestServerDownAndRecovery(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("tok", active("alice", c.unix()+3600, ""))

	unavailable := func(detail string) {
		t.Helper()
		code, ex, h := run(t, f, "Bearer tok")
		if code != "authn.introspection_unavailable" || statusOf(code) != 503 {
			t.Fatalf("code = %q, want authn.introspection_unavailable", code)
		}
		if respHeader(ex, "Retry-After") != "1" || respHeader(ex, "WWW-Authenticate") != "" {
			t.Errorf("headers: Retry-After %q, WWW-Authenticate %q", respHeader(ex, "Retry-After"), respHeader(ex, "WWW-Authenticate"))
		}
		if !strings.Contains(string(ex.Detail()), detail) {
			t.Errorf("detail = %q, want %q", ex.Detail(), detail)
		}
		if ex.Identity.Verified || string(ex.Identity.KeyID) != fp("tok") || h.Get("X-Auth-Subject") != "" {
			t.Errorf("identity %+v / forwarded %q", ex.Identity, h.Get("X-Auth-Subject"))
		}
	}
	p.mode.Store(modeFail500)
	unavailable("answered 500")
	unavailable("answered 500") // failures are not cached
	if n := p.hits.Load(); n != 2 {
		t.Errorf("server hits = %d, want 2", n)
	}
	p.mode.Store(modeRedirect)
	unavailable("answered 302") // redirects are not followed
	p.mode.Store(modeOK)
	if code, _, _ := run(t, f, "Bearer tok"); code != "" {
		t.Fatalf("code = %q after recovery", code)
	}
	if got := f.m.calls[resultStatus].Get(); got != 3 {
		t.Errorf("http_error calls = %d, want 3", got)
	}
}

func TestServerTimeout(t *testing.T) {
	p := newIDP(t)
	f := newTestFilter(t, p, "timeout: 200ms\n", nil)
	p.mode.Store(modeHang)
	start := time.Now()
	code, ex, _ := run(t, f, "Bearer slow")
	if code != "authn.introspection_unavailable" || !strings.Contains(string(ex.Detail()), "in time") {
		t.Fatalf("code %q detail %q", code, ex.Detail())
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("took %v, want about the 200ms timeout", d)
	}
	if got := f.m.calls[resultTimeout].Get(); got != 1 {
		t.Errorf("timeout calls = %d, want 1", got)
	}
}

func TestServerGone(t *testing.T) {
	p := newIDP(t)
	f := newTestFilter(t, p, "", nil)
	p.srv.Close()
	code, ex, _ := run(t, f, "Bearer tok")
	if code != "authn.introspection_unavailable" || !strings.Contains(string(ex.Detail()), "cannot reach") {
		t.Fatalf("code %q detail %q", code, ex.Detail())
	}
}

func TestWrongClientSecret(t *testing.T) {
	p := newIDP(t)
	y := "endpoint: " + p.url + "\nclient_id: x\nclient_secret: wrong\nca_file: " + p.caFile + "\n"
	f, err := newFilter(testSpec(y, testRoles()), options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.set("tok", active("alice", time.Now().Unix()+3600, ""))
	if code, ex, _ := run(t, f, "Bearer tok"); code != "authn.introspection_unavailable" || !strings.Contains(string(ex.Detail()), "401") {
		t.Fatalf("code %q detail %q: a rejected proxy must fail closed", code, ex.Detail())
	}
}

func TestUntrustedCertificate(t *testing.T) {
	p := newIDP(t)
	y := "endpoint: " + p.url + "\nclient_id: x\nclient_secret: y\n" // system roots only
	f, err := newFilter(testSpec(y, testRoles()), options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code, _, _ := run(t, f, "Bearer tok"); code != "authn.introspection_unavailable" || p.hits.Load() != 0 {
		t.Fatalf("code %q, server hits %d: an untrusted certificate must not be used", code, p.hits.Load())
	}
}

func TestClientAuthentication(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	tok := "abc+/DEF~._-xyz=="
	p.set(tok, active("alice", c.unix()+60, ""))
	if code, _, _ := run(t, f, "Bearer "+tok); code != "" {
		t.Fatalf("code = %q", code)
	}
	calls := p.calls()
	if len(calls) != 1 {
		t.Fatalf("calls = %d", len(calls))
	}
	got := calls[0]
	if got.method != "POST" || got.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("method %q content type %q", got.method, got.contentType)
	}
	if got.form.Get("token") != tok || got.form.Get("token_type_hint") != "access_token" || len(got.form) != 2 {
		t.Errorf("form = %v", got.form)
	}
	// RFC 6749 §2.3.1: id and secret are form-encoded, then Basic.
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got.authorization, "Basic "))
	if err != nil || !strings.HasPrefix(got.authorization, "Basic ") {
		t.Fatalf("authorization = %q", got.authorization)
	}
	want := url.QueryEscape(testClientID) + ":" + url.QueryEscape(testClientSecret)
	if string(raw) != want {
		t.Errorf("basic credentials = %q, want %q", raw, want)
	}
}

func TestBoundedCache(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "cache: {max_entries: 64}\n", c)
	p.setPrefix("t-", active("bulk", c.unix()+3600, ""))
	p.setPrefix("bad-", `{"active":false}`)
	if f.cache.Capacity() != 64 {
		t.Fatalf("capacity = %d, want 64", f.cache.Capacity())
	}
	for i := 0; i < 1000; i++ {
		prefix := "t-"
		if i%2 == 1 {
			prefix = "bad-"
		}
		run(t, f, "Bearer "+prefix+itoa64(int64(i)))
		if n := f.cache.Len(); n > f.cache.Capacity() {
			t.Fatalf("cache holds %d entries, capacity %d", n, f.cache.Capacity())
		}
	}
	if n := p.hits.Load(); n != 1000 {
		t.Fatalf("server hits = %d, want 1000", n)
	}
	last := "Bearer bad-" + itoa64(999)
	if code, _, _ := run(t, f, last); code != "authn.token_inactive" || p.hits.Load() != 1000 {
		t.Errorf("the most recent token was not cached (code %q)", code)
	}
}

func TestCacheDisabled(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "cache: {max_entries: 0}\n", c)
	p.set("tok", active("alice", c.unix()+3600, ""))
	for i := 0; i < 3; i++ {
		if code, ex, _ := run(t, f, "Bearer tok"); code != "" || string(ex.Identity.Subject) != "alice" {
			t.Fatalf("code %q", code)
		}
	}
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("server hits = %d, want 3", n)
	}
}

func TestOptional(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "optional: true\n", c)
	p.set("tok", active("alice", c.unix()+3600, ""))
	code, ex, h := run(t, f, "")
	if code != "" || ex.Identity.Verified || h.Get("X-Auth-Subject") != "" {
		t.Fatalf("anonymous: code %q verified %v forwarded %q", code, ex.Identity.Verified, h.Get("X-Auth-Subject"))
	}
	if code, _, _ := run(t, f, "Bearer nope"); code != "authn.token_inactive" {
		t.Fatalf("a present, inactive token must still be refused: %q", code)
	}
	if code, _, _ := run(t, f, "Bearer tok"); code != "" {
		t.Fatalf("active: %q", code)
	}
	if p.hits.Load() != 2 {
		t.Errorf("server hits = %d", p.hits.Load())
	}
}

func TestCustomHeaderAndRolesPath(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "header: x-access-token\nroles_claim: realm_access.roles\nforward: {roles_header: X-Roles, tenant_header: \"\"}\n", c)
	p.set("tok", active("alice", c.unix()+3600, `"scope":"admin","realm_access":{"roles":["editor",7,"billing:read","nobody"]}`))
	code, ex, h := run(t, f, "", "X-Access-Token", "tok", "X-Roles", "admin", "X-Auth-Roles", "kept")
	if code != "" {
		t.Fatalf("code %q", code)
	}
	if ex.Identity.Roles != 1<<1|1<<3 || h.Get("X-Roles") != "editor,billing:read" {
		t.Errorf("roles %b header %q", ex.Identity.Roles, h.Get("X-Roles"))
	}
	if h.Get("X-Auth-Roles") != "kept" {
		t.Errorf("a header that is not forwarded was touched")
	}
	if code, _, _ := run(t, f, "", "X-Access-Token", "Bearer tok"); code != "" {
		t.Errorf("Bearer prefix in a custom header: %q", code)
	}
}

func TestBadResponses(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "cache: {max_entries: 0}\n", c)
	exp := itoa64(c.unix() + 60)
	for _, body := range []string{
		``,
		`not json`,
		`[{"active":true}]`,
		`{"active":"true","sub":"a"}`,
		`{"sub":"a"}`,
		`{"active":true,"active":false}`,
		`{"active":false,"active":true}`,
		`{"active":true,"sub":"a"} {"active":false}`,
		`{"active":true,"sub":7,"exp":` + exp + `}`,
		`{"active":true,"sub":"a","exp":"soon"}`,
		`{"active":true,"sub":"a","aud":[1],"exp":` + exp + `}`,
		`{"active":true,"sub":"a\r\nX-Injected: 1","exp":` + exp + `}`,
		`{"active":true,"sub":"` + strings.Repeat("a", maxFieldLen+1) + `"}`,
		`{"active":true,"sub":"a","pad":"` + strings.Repeat("a", maxResponseBytes) + `"}`,
	} {
		p.setRaw(body)
		code, ex, _ := run(t, f, "Bearer tok")
		if code != "authn.introspection_unavailable" {
			t.Errorf("body %.60q: code %q, want authn.introspection_unavailable", body, code)
		} else if !strings.Contains(string(ex.Detail()), "introspection response") {
			t.Errorf("body %.60q: detail %q", body, ex.Detail())
		}
	}
	// Nulls count as absent, unknown members are ignored.
	p.setRaw(`{"active":true,"sub":"a","iss":null,"exp":` + exp + `,"nbf":null,"aud":null,"ext":{"x":[1,2]}}`)
	if code, _, _ := run(t, f, "Bearer tok"); code != "" {
		t.Errorf("lenient members refused: %q", code)
	}
}

func itoa64(n int64) string { return strconvFormat(n) }

// statusOf returns the HTTP status of the filter's reason code.
func statusOf(code string) int {
	for _, r := range Reasons() {
		if r.Code == code {
			return r.Status
		}
	}
	return 0
}

func TestMaxConcurrent(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "max_concurrent: 1\n", c)
	p.set("a", active("alice", c.unix()+3600, ""))
	p.set("b", active("bob", c.unix()+3600, ""))
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()

	done := make(chan string, 1)
	go func() {
		h := filtertest.NewStaticHeaders("Authorization", "Bearer a")
		ex := exchange(h)
		defer filters.ReleaseExchange(ex)
		code := ""
		if v := f.Handle(ex); !v.IsContinue() {
			code = v.Reason().Code
		}
		done <- code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for p.hits.Load() == 0 {
		if time.Now().After(deadline) {
			close(gate)
			t.Fatal("first call never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	code, ex, _ := run(t, f, "Bearer b")
	if code != "authn.introspection_unavailable" || !strings.Contains(string(ex.Detail()), "too many") {
		t.Errorf("second token while the only slot is busy: code %q detail %q", code, ex.Detail())
	}
	close(gate)
	if code := <-done; code != "" {
		t.Fatalf("first request: %q", code)
	}
	if code, _, _ := run(t, f, "Bearer b"); code != "" {
		t.Fatalf("after the slot freed: %q", code)
	}
	if got := f.m.calls[resultOverloaded].Get(); got != 1 {
		t.Errorf("overloaded = %d, want 1", got)
	}
}

// TestWithEngineHeaders runs the filter over filtertest's net/http-backed
// exchange, whose header names arrive canonicalized as an engine's do.
func TestWithEngineHeaders(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("tok", active("alice", c.unix()+3600, `"scope":"editor"`))
	hdr := http.Header{}
	hdr.Set("authorization", "Bearer tok")
	hdr.Set("x-auth-roles", "admin")
	ex := filtertest.NewExchange("POST", "/api/x?y=1", hdr, []byte("{}"))
	defer filters.ReleaseExchange(ex)
	if v := filters.NewChain(f).Run(ex); !v.IsContinue() {
		t.Fatalf("refused: %s", ex.Detail())
	}
	if hdr.Get("X-Auth-Roles") != "editor" || hdr.Get("X-Auth-Subject") != "alice" || ex.Identity.Method.String() != "introspection" {
		t.Errorf("headers %v identity %+v", hdr, ex.Identity)
	}
}
