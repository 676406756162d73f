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
	h := headers()
	code, ex := run(t, f, h)
	if code != "" || ex.Identity.Verified {
		t.Fatalf("no key: got %q, %+v", code, ex.Identity)
	}
	if h.Peek("X-Auth-Subject") != nil {
		t.Error("an anonymous request is given an identity header")
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

// aliceKey is a key for the principal verifiedByJWT sets.
const aliceKey = "tg_alice_5d1c0b9a8f7e6d5c4b3a29180716f5e4"

// TestAfterVerifiedIdentity: a key presented beside an identity an earlier
// filter verified must be valid, and must name the same principal (subject
// and tenant) unless second_factor says it is a second credential on
// purpose; a conflict is 400 authn.conflicting_credentials, attributed to
// no one. The key never reaches the upstream, and the earlier filter's
// identity and headers stay when the request passes.
func TestAfterVerifiedIdentity(t *testing.T) {
	const (
		keep     = "keep"     // passes, the JWT identity stays
		conflict = "conflict" // 400, no identity at all
		refused  = "refused"  // 401 with the key's unverified fingerprint
	)
	cases := []struct {
		mode string
		want map[string]string // key → outcome; "" is no key
	}{
		{"optional: true\n", map[string]string{"": keep, aliceKey: keep, ciKey: conflict, wrongKey: refused}},
		{"", map[string]string{"": "authn.key_missing", aliceKey: keep, ciKey: conflict, wrongKey: refused}},
		{"second_factor: true\n", map[string]string{"": "authn.key_missing", aliceKey: keep, ciKey: keep, wrongKey: refused}},
		{"optional: true\nsecond_factor: true\n", map[string]string{"": keep, aliceKey: keep, ciKey: keep, wrongKey: refused}},
	}
	for _, c := range cases {
		mode := c.mode
		f, _ := newTestFilter(t, config("  - {id: alice, sha256: \""+hashOf(aliceKey)+"\"}\n"+mode))
		for key, want := range c.want {
			h := headers("X-Auth-Subject", "alice")
			if key != "" {
				h.Set("X-Api-Key", []byte(key))
			}
			code, ex := run(t, f, h, verifiedByJWT)
			id := &ex.Identity
			name := strings.TrimSpace(mode) + " key " + key
			if h.Peek("X-Api-Key") != nil {
				t.Errorf("%s: the key would reach the upstream", name)
			}
			switch want {
			case keep:
				if code != "" || !id.Verified || string(id.Subject) != "alice" || id.Method != filters.AuthJWT || h.Peek("X-Auth-Subject") == nil {
					t.Errorf("%s: got %q, %+v; want the JWT identity kept", name, code, id)
				}
			case conflict:
				if code != "authn.conflicting_credentials" || id.Verified || len(id.Subject)+len(id.KeyID)+len(id.Issuer) != 0 || id.Method != filters.AuthNone || id.Roles != 0 {
					t.Errorf("%s: got %q, %+v; want an unattributed conflict", name, code, id)
				}
			case refused:
				if code != "authn.key_invalid" || id.Verified || len(id.Subject) != 0 || id.Method != filters.AuthAPIKey || len(id.KeyID) != 2*FingerprintLen {
					t.Errorf("%s: got %q, %+v; want a refusal with the key's fingerprint", name, code, id)
				}
			default:
				if code != want {
					t.Errorf("%s: got %q, want %q", name, code, want)
				}
			}
		}
	}
	if r := filters.ReasonConflictingCredentials; r.Status != 400 || r.Decision != filters.DecisionInvalid {
		t.Errorf("conflict reason: %d %v", r.Status, r.Decision)
	}
}

func TestStripAndSourcesConfigurable(t *testing.T) {
	f, _ := newTestFilter(t, config("forward: {credential: true, roles_header: \"\", tenant_header: X-Tenant}\nauthorization: false\nheader: x-client-key\n"))
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
	f("positions", "realm: 'a\"b'\nkeys:\n  - {id: a, sha256: "+h+"}\n  - {id: a, sha256: nothex}\nforward: {roles_header: \"x y\"}\n",
		"test.yaml:1:8: filter \"apikey\": realm: want printable text",
		"test.yaml:4:10: filter \"apikey\": keys[1].id: \"a\" is already the id of keys[0]",
		"test.yaml:4:21: filter \"apikey\": keys[1].sha256: ",
		"test.yaml:5:25: filter \"apikey\": forward.roles_header: \"x y\" is not a valid header name")
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
	run(t, f, headers(), verifiedByJWT)
	run(t, f, headers("X-Api-Key", ciKey), verifiedByJWT)
	var b strings.Builder
	f.Metrics().WritePrometheus(&b)
	for _, want := range []string{
		`tollgate_apikey_accepted_total{route="r",key="ci-bot"} 2`,
		`tollgate_apikey_accepted_total{route="r",key="ops"} 0`,
		`tollgate_apikey_refused_total{route="r",reason="authn.key_invalid"} 1`,
		`tollgate_apikey_refused_total{route="r",reason="authn.key_missing"} 0`,
		`tollgate_apikey_refused_total{route="r",reason="authn.conflicting_credentials"} 1`,
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

// TestKeyNeverForwarded: whatever the outcome — accepted, refused, an
// empty key on an optional route — the headers that carried a key are
// removed before anything goes upstream, unless forward.credential keeps
// it; the strip key of old configs is an error that names its successor.
func TestKeyNeverForwarded(t *testing.T) {
	req, _ := newTestFilter(t, config(""))
	opt, _ := newTestFilter(t, config("optional: true\n"))
	keep, _ := newTestFilter(t, config("forward: {credential: true}\n"))
	for _, c := range []struct {
		name   string
		f      *Filter
		kv     []string
		want   string
		header string // the credential header that must be gone, or kept
		kept   bool
	}{
		{"accepted", req, []string{"X-Api-Key", ciKey}, "", "X-Api-Key", false},
		{"accepted in Authorization", req, []string{"Authorization", "ApiKey " + ciKey}, "", "Authorization", false},
		{"invalid", req, []string{"X-Api-Key", wrongKey}, "authn.key_invalid", "X-Api-Key", false},
		{"empty", req, []string{"X-Api-Key", " "}, "authn.key_missing", "X-Api-Key", false},
		{"empty, optional", opt, []string{"X-Api-Key", ""}, "", "X-Api-Key", false},
		{"invalid, optional", opt, []string{"Authorization", "apikey " + wrongKey}, "authn.key_invalid", "Authorization", false},
		{"forward.credential", keep, []string{"X-Api-Key", ciKey}, "", "X-Api-Key", true},
	} {
		h := headers(c.kv...)
		code, _ := run(t, c.f, h)
		if code != c.want || (h.Peek(c.header) != nil) != c.kept {
			t.Errorf("%s: %q, %s kept %v; want %q, kept %v", c.name, code, c.header, h.Peek(c.header) != nil, c.want, c.kept)
		}
	}
	_, err := build(testSpec(config("strip: false\n"), filters.NewRoles()))
	if err == nil || !strings.Contains(err.Error(), "forward.credential") {
		t.Errorf("strip: %v", err)
	}
}
