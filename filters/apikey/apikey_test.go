package apikey

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

const (
	ciKey    = "tg_ci_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	adminKey = "tg_admin_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	wrongKey = "tg_wrong_00000000000000000000000000000000"
)

func config(extra string) string {
	return `
keys:
  - id: ci-bot
    sha256: "` + hashOf(ciKey) + `"
    roles: [editor, viewer]
    tenant: acme
  - id: ops
    sha256: "` + strings.ToUpper(hashOf(adminKey)) + `"
    subject: ops@example.com
    roles: [admin]
` + extra
}

func newTestFilter(t testing.TB, src string) (*Filter, *filters.Roles) {
	t.Helper()
	roles := filters.NewRoles()
	f, err := build(testSpec(src, roles))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return f, roles
}

// run handles one request and returns the verdict's code ("" for
// Continue), the exchange (released by t.Cleanup) and its headers.
func run(t *testing.T, f *Filter, h *filtertest.StaticHeaders, prepare ...func(*filters.Exchange)) (string, *filters.Exchange) {
	t.Helper()
	ex := filters.AcquireExchange()
	t.Cleanup(func() { filters.ReleaseExchange(ex) })
	ex.Method, ex.Path = []byte("GET"), []byte("/x")
	ex.SetHeaders(h)
	for _, p := range prepare {
		p(ex)
	}
	v := f.Handle(ex)
	if v.IsContinue() {
		return "", ex
	}
	return v.Reason().Code, ex
}

func wwwAuthenticate(ex *filters.Exchange) string {
	for i := range ex.ResponseHeaderCount() {
		if n, v := ex.ResponseHeader(i); n == "WWW-Authenticate" {
			return string(v)
		}
	}
	return ""
}

func TestAcceptsHeaderKey(t *testing.T) {
	f, roles := newTestFilter(t, config(""))
	h := headers("X-Api-Key", ciKey, "X-Auth-Subject", "forged", "X-Auth-Roles", "admin", "Accept", "*/*")
	code, ex := run(t, f, h)
	if code != "" {
		t.Fatalf("refused: %s", code)
	}
	id := &ex.Identity
	if !id.Verified || id.Method != filters.AuthAPIKey || string(id.Subject) != "ci-bot" || string(id.KeyID) != "ci-bot" || string(id.Tenant) != "acme" || len(id.Issuer) != 0 {
		t.Errorf("identity: %+v", id)
	}
	if got := strings.Join(roles.Names(id.Roles), ","); got != "editor,viewer" {
		t.Errorf("roles = %q", got)
	}
	want := "X-Auth-Subject: ci-bot\nX-Auth-Roles: editor,viewer\nAccept: */*\nX-Auth-Tenant: acme\n"
	if got := h.String(); got != want {
		t.Errorf("upstream headers:\n%s\nwant:\n%s", got, want)
	}
}

func TestAuthorizationScheme(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	fn := func(value, wantCode, wantSubject string, stripped bool) {
		t.Helper()
		h := headers("Authorization", value)
		code, ex := run(t, f, h)
		if code != wantCode || string(ex.Identity.Subject) != wantSubject && wantCode == "" {
			t.Errorf("%q: got %q subject %q, want %q %q", value, code, ex.Identity.Subject, wantCode, wantSubject)
		}
		if gone := h.Peek("Authorization") == nil; gone != stripped {
			t.Errorf("%q: Authorization stripped = %v, want %v", value, gone, stripped)
		}
	}
	fn("ApiKey "+ciKey, "", "ci-bot", true)
	fn("apikey "+adminKey, "", "ops@example.com", true)
	fn("APIKEY \t"+adminKey+" \t", "", "ops@example.com", true)
	fn("ApiKey\t"+ciKey, "", "ci-bot", true)
	fn("ApiKey "+wrongKey, "authn.key_invalid", "", true)
	fn("ApiKey", "authn.key_missing", "", true)
	fn("ApiKey    ", "authn.key_missing", "", true)
	fn("ApiKeys "+ciKey, "authn.key_missing", "", false)
	fn("ApiKey"+ciKey, "authn.key_missing", "", false)
	fn("Bearer "+ciKey, "authn.key_missing", "", false)
	fn("Basic Zm9vOmJhcg==", "authn.key_missing", "", false)
	fn(ciKey, "authn.key_missing", "", false)
}

func TestHeaderWinsOverAuthorization(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	h := headers("X-Api-Key", ciKey, "Authorization", "ApiKey "+adminKey)
	code, ex := run(t, f, h)
	if code != "" || string(ex.Identity.Subject) != "ci-bot" {
		t.Fatalf("got %q %q", code, ex.Identity.Subject)
	}
	if h.Peek("Authorization") != nil || h.Peek("X-Api-Key") != nil {
		t.Errorf("a key reaches the upstream: %s", h.String())
	}
}

func TestMissingKey(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	code, ex := run(t, f, headers("X-Auth-Subject", "forged"))
	if code != "authn.key_missing" || ReasonMissing.Status != 401 || ReasonMissing.Decision != filters.DecisionDenied {
		t.Fatalf("got %q", code)
	}
	if got := wwwAuthenticate(ex); got != `ApiKey realm="tollgate"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if ex.Identity.Verified || len(ex.Identity.KeyID) != 0 {
		t.Errorf("identity: %+v", ex.Identity)
	}
	// Empty header values are no key.
	if code, _ := run(t, f, headers("X-Api-Key", "  ")); code != "authn.key_missing" {
		t.Errorf("blank key: %q", code)
	}
}

func TestInvalidKeyLeavesOnlyAFingerprint(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	h := headers("X-Api-Key", wrongKey)
	code, ex := run(t, f, h)
	if code != "authn.key_invalid" {
		t.Fatalf("got %q", code)
	}
	id := &ex.Identity
	if id.Verified || id.Method != filters.AuthAPIKey || id.Roles != 0 || len(id.Subject) != 0 {
		t.Errorf("identity: %+v", id)
	}
	if want := hashOf(wrongKey)[:2*FingerprintLen]; string(id.KeyID) != want {
		t.Errorf("KeyID = %q, want %q", id.KeyID, want)
	}
	if got := wwwAuthenticate(ex); got != `ApiKey realm="tollgate"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// The key appears nowhere on the exchange.
	var all []byte
	all = append(all, id.Subject...)
	all = append(all, id.KeyID...)
	all = append(all, id.Tenant...)
	all = append(all, id.Issuer...)
	all = append(all, ex.Detail()...)
	all = ex.AppendProblem(all)
	if bytes.Contains(all, []byte(wrongKey)) || bytes.Contains(all, []byte(wrongKey[8:24])) {
		t.Errorf("the refused key leaks: %s", all)
	}
	if h.Peek("X-Api-Key") != nil {
		t.Error("the refused key reaches the upstream")
	}
}

func TestKeyMatchingIsExact(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	for _, k := range []string{ciKey[:len(ciKey)-1], ciKey + "0", strings.ToUpper(ciKey), " x" + ciKey, ciKey + "\x00"} {
		if code, _ := run(t, f, headers("X-Api-Key", k)); code != "authn.key_invalid" {
			t.Errorf("%q: got %q", k, code)
		}
	}
	// Surrounding whitespace is not part of the key (RFC 9110 §5.5).
	if code, _ := run(t, f, headers("X-Api-Key", " \t"+ciKey+"\t ")); code != "" {
		t.Errorf("padded key: %q", code)
	}
}

func TestOptional(t *testing.T) {
	f, _ := newTestFilter(t, config("optional: true\n"))
	h := headers("X-Auth-Subject", "forged")
	code, ex := run(t, f, h)
	if code != "" || ex.Identity.Verified {
		t.Fatalf("no key: got %q, %+v", code, ex.Identity)
	}
	if h.Peek("X-Auth-Subject") != nil {
		t.Error("a client-sent identity header reaches the upstream")
	}
	// A key that is present must be valid.
	if code, _ := run(t, f, headers("X-Api-Key", wrongKey)); code != "authn.key_invalid" {
		t.Errorf("bad key on an optional route: %q", code)
	}
	if code, ex := run(t, f, headers("X-Api-Key", ciKey)); code != "" || !ex.Identity.Verified {
		t.Errorf("good key on an optional route: %q", code)
	}
}

// verifiedByJWT stands in for an earlier jwtauth filter that accepted a
// token.
func verifiedByJWT(ex *filters.Exchange) {
	id := &ex.Identity
	id.Subject = append(id.Subject[:0], "alice"...)
	id.KeyID = append(id.KeyID[:0], "kid-1"...)
	id.Roles = 1 << 5
	id.Method = filters.AuthJWT
	id.Verified = true
}

func TestAfterVerifiedIdentity(t *testing.T) {
	t.Run("optional does nothing", func(t *testing.T) {
		f, _ := newTestFilter(t, config("optional: true\n"))
		for _, key := range []string{"", ciKey, wrongKey} {
			h := headers("X-Auth-Subject", "alice")
			if key != "" {
				h.Set("X-Api-Key", []byte(key))
			}
			code, ex := run(t, f, h, verifiedByJWT)
			if code != "" || ex.Identity.Method != filters.AuthJWT || string(ex.Identity.Subject) != "alice" || string(ex.Identity.KeyID) != "kid-1" {
				t.Errorf("key %q: got %q, %+v", key, code, ex.Identity)
			}
			if got := h.String(); got != "X-Auth-Subject: alice\n" {
				t.Errorf("key %q: upstream headers %q: the earlier filter's headers must stay and the key must go", key, got)
			}
		}
	})
	t.Run("required is an extra gate", func(t *testing.T) {
		f, _ := newTestFilter(t, config(""))
		fn := func(key, want string) {
			t.Helper()
			h := headers("X-Auth-Subject", "alice")
			if key != "" {
				h.Set("X-Api-Key", []byte(key))
			}
			code, ex := run(t, f, h, verifiedByJWT)
			if code != want {
				t.Errorf("key %q: got %q, want %q", key, code, want)
			}
			if !ex.Identity.Verified || string(ex.Identity.Subject) != "alice" || ex.Identity.Method != filters.AuthJWT {
				t.Errorf("key %q: the verified identity changed: %+v", key, ex.Identity)
			}
			if h.Peek("X-Auth-Subject") == nil {
				t.Errorf("key %q: the earlier filter's header was removed", key)
			}
		}
		fn(ciKey, "")
		fn("", "authn.key_missing")
		fn(wrongKey, "authn.key_invalid")
	})
}

func TestStripAndSourcesConfigurable(t *testing.T) {
	f, _ := newTestFilter(t, config("strip: false\nauthorization: false\nheader: x-client-key\nforward: {roles_header: \"\", tenant_header: X-Tenant}\n"))
	h := headers("X-Client-Key", ciKey)
	if code, _ := run(t, f, h); code != "" {
		t.Fatalf("got %q", code)
	}
	if want := "X-Client-Key: " + ciKey + "\nX-Auth-Subject: ci-bot\nX-Tenant: acme\n"; h.String() != want {
		t.Errorf("upstream headers:\n%s\nwant:\n%s", h.String(), want)
	}
	if code, _ := run(t, f, headers("Authorization", "ApiKey "+ciKey)); code != "authn.key_missing" {
		t.Errorf("Authorization accepted while disabled: %q", code)
	}
	if code, _ := run(t, f, headers("X-Api-Key", ciKey)); code != "authn.key_missing" {
		t.Errorf("default header accepted while another is configured: %q", code)
	}
}

func TestRealm(t *testing.T) {
	f, _ := newTestFilter(t, config("realm: billing\n"))
	_, ex := run(t, f, headers())
	if got := wwwAuthenticate(ex); got != `ApiKey realm="billing"` {
		t.Errorf("got %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	h := hashOf("k1")
	f := func(name, src string, wants ...string) {
		t.Helper()
		_, err := build(testSpec(src, filters.NewRoles()))
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}
	f("no keys", ``, `test.yaml:1:1: filter "apikey": keys: list at least one key`)
	f("clear key", "keys: [{id: a, sha256: tg_live_secret}]", "keys[0].sha256", "never the key itself")
	f("short hash", "keys: [{id: a, sha256: "+h[:62]+"}]", "64 hex digits")
	f("not hex", "keys: [{id: a, sha256: "+strings.Repeat("zz", 32)+"}]", "64 hex digits")
	f("empty key hash", "keys: [{id: a, sha256: "+emptyKeyHash+"}]", "empty key")
	f("no id", "keys: [{sha256: "+h+"}]", "keys[0].id")
	f("dup id", "keys: [{id: a, sha256: "+h+"}, {id: a, sha256: "+hashOf("k2")+"}]", `keys[1].id: "a" is already the id of keys[0]`)
	f("dup hash", "keys: [{id: a, sha256: "+h+"}, {id: b, sha256: "+strings.ToUpper(h)+"}]", `keys[1].sha256: same key as keys[0] ("a")`)
	f("bad header", "header: \"X Key\"\nkeys: [{id: a, sha256: "+h+"}]", "not a valid header name")
	f("authorization header", "header: authorization\nkeys: [{id: a, sha256: "+h+"}]", "use authorization: true")
	f("bad realm", "realm: 'a\"b'\nkeys: [{id: a, sha256: "+h+"}]", "realm")
	f("forward over key", "forward: {subject_header: x-api-key}\nkeys: [{id: a, sha256: "+h+"}]", "would overwrite the credential")
	f("bad role", "keys: [{id: a, sha256: "+h+", roles: ['a,b']}]", "invalid role name")
	f("unknown field", "keys: [{id: a, sha256: "+h+", secret: x}]", "secret")
	f("every error", "header: \"\"\nkeys: [{id: a, sha256: x}]", "header", "sha256")
}

func TestMetrics(t *testing.T) {
	f, _ := newTestFilter(t, config("optional: true\n"))
	run(t, f, headers("X-Api-Key", ciKey))
	run(t, f, headers("X-Api-Key", ciKey))
	run(t, f, headers("X-Api-Key", wrongKey))
	run(t, f, headers())
	run(t, f, headers("X-Api-Key", ciKey), verifiedByJWT)
	var b strings.Builder
	f.Metrics().WritePrometheus(&b)
	for _, want := range []string{
		`tollgate_apikey_accepted_total{route="r",key="ci-bot"} 2`,
		`tollgate_apikey_accepted_total{route="r",key="ops"} 0`,
		`tollgate_apikey_refused_total{route="r",reason="authn.key_invalid"} 1`,
		`tollgate_apikey_refused_total{route="r",reason="authn.key_missing"} 0`,
		`tollgate_apikey_anonymous_total{route="r"} 1`,
		`tollgate_apikey_skipped_total{route="r"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// TestConcurrentUse shares one filter between goroutines, as several
// routes' chains do; run with -race.
func TestConcurrentUse(t *testing.T) {
	f, _ := newTestFilter(t, config(""))
	reqs := []struct {
		r    *benchRequest
		want string
	}{
		{newBenchRequest(false, "X-Api-Key", ciKey), ""},
		{newBenchRequest(false, "Authorization", "ApiKey "+adminKey), ""},
		{newBenchRequest(false, "X-Api-Key", wrongKey), "authn.key_invalid"},
		{newBenchRequest(false), "authn.key_missing"},
	}
	done := make(chan string, 4)
	for g := range 4 {
		go func() {
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			for i := range 500 {
				c := reqs[(g+i)%len(reqs)]
				r := &benchRequest{tmpl: c.r.tmpl, live: &filtertest.StaticHeaders{}}
				r.fill(ex)
				if got := codeOf(f.Handle(ex)); got != c.want {
					done <- got + ", want " + c.want
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
