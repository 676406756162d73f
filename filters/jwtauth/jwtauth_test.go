package jwtauth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

const hsIssuerYAML = "  - issuer: https://hs.test\n    audiences: [api]\n    hs_secret: "

func newHSFilter(t *testing.T) *Filter {
	t.Helper()
	k := testKeys(t)
	return newFileFilter(t, "", hsIssuerYAML+string(k.hs)+"\n")
}

func TestAcceptsEachAlg(t *testing.T) {
	f := newHSFilter(t)
	k := testKeys(t)
	roles := f.roles
	viewer, _ := roles.Lookup([]byte("viewer"))
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			var tok string
			if strings.HasPrefix(alg, "HS") {
				tok = hsSign(t, alg, k.hs, `{"alg":"`+alg+`"}`, claims(map[string]any{"iss": "https://hs.test", "sub": "svc-" + alg}))
			} else {
				tok = mint(t, alg, claims(map[string]any{"sub": "svc-" + alg}))
			}
			for round := 0; round < 2; round++ { // miss, then cache hit
				code, ex, h := run(t, f, "Bearer "+tok)
				if code != "" {
					t.Fatalf("round %d: refused with %s (%s)", round, code, ex.Detail())
				}
				id := ex.Identity
				if string(id.Subject) != "svc-"+alg || !id.Verified || id.Method != filters.AuthJWT || !id.Roles.Has(viewer) {
					t.Fatalf("round %d: identity %+v", round, id)
				}
				if h.Get("X-Auth-Subject") != "svc-"+alg || h.Get("X-Auth-Roles") != "viewer" {
					t.Fatalf("round %d: forwarded subject %q roles %q", round, h.Get("X-Auth-Subject"), h.Get("X-Auth-Roles"))
				}
			}
		})
	}
	if got := f.m.hits.Get(); got != 12 {
		t.Fatalf("cache hits = %d, want 12", got)
	}
}

func TestRefusals(t *testing.T) {
	f := newHSFilter(t)
	k := testKeys(t)
	good := claims(nil)
	rsaPubDER := k.rsa.PublicKey.N.Bytes()
	parts := strings.Split(mint(t, "RS256", good), ".")
	tampered := claims(map[string]any{"sub": "mallory"})
	cases := []struct {
		name, auth, code string
		wantKID          string
	}{
		{"missing", "", "authn.token_missing", ""},
		{"other scheme", "Basic YWxpY2U6eA==", "authn.token_missing", ""},
		{"empty bearer", "Bearer   ", "authn.token_missing", ""},
		{"two segments", "Bearer a.b", "authn.token_malformed", ""},
		{"four segments", "Bearer a.b.c.d", "authn.token_malformed", ""},
		{"not base64", "Bearer @@@.b.c", "authn.token_malformed", ""},
		{"padded", "Bearer " + parts[0] + "=." + parts[1] + "." + parts[2], "authn.token_malformed", ""},
		{"alg none", "Bearer " + b64u([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", "authn.alg_not_allowed", ""},
		{"alg None case", "Bearer " + b64u([]byte(`{"alg":"None"}`)) + "." + parts[1] + ".", "authn.alg_not_allowed", ""},
		{"alg missing", "Bearer " + b64u([]byte(`{"kid":"rsa1"}`)) + "." + parts[1] + "." + parts[2], "authn.token_malformed", "rsa1"},
		{"alg confusion HS256 with RSA public key", "Bearer " + hsSign(t, "HS256", rsaPubDER, `{"alg":"HS256","kid":"rsa1"}`, good), "authn.alg_not_allowed", "rsa1"},
		{"HS256 for HS issuer with wrong secret", "Bearer " + hsSign(t, "HS256", []byte(strings.Repeat("x", 64)), `{"alg":"HS256"}`, claims(map[string]any{"iss": "https://hs.test"})), "authn.bad_signature", ""},
		{"stripped signature", "Bearer " + parts[0] + "." + parts[1] + ".", "authn.bad_signature", "rsa1"},
		{"tampered payload", "Bearer " + parts[0] + "." + b64u([]byte(tampered)) + "." + parts[2], "authn.bad_signature", "rsa1"},
		{"signature from other key", "Bearer " + mintRaw(t, "RS256", k.rsa2, `{"alg":"RS256","kid":"rsa1"}`, good), "authn.bad_signature", "rsa1"},
		{"ES256 signature of wrong length", "Bearer " + strings.Join(strings.Split(mint(t, "ES256", good), ".")[:2], ".") + "." + b64u(make([]byte, 65)), "authn.bad_signature", "ec256"},
		{"kid of another key type", "Bearer " + mintRaw(t, "ES256", k.p256, `{"alg":"ES256","kid":"rsa1"}`, good), "authn.alg_not_allowed", "rsa1"},
		{"wrong audience", "Bearer " + mint(t, "RS256", claims(map[string]any{"aud": []string{"other", "more"}})), "authn.wrong_audience", "rsa1"},
		{"no audience", "Bearer " + mint(t, "RS256", claims(map[string]any{"aud": nil})), "authn.wrong_audience", "rsa1"},
		{"wrong issuer", "Bearer " + mint(t, "RS256", claims(map[string]any{"iss": "https://evil.test"})), "authn.wrong_issuer", "rsa1"},
		{"no issuer", "Bearer " + mint(t, "RS256", claims(map[string]any{"iss": nil})), "authn.wrong_issuer", "rsa1"},
		{"expired", "Bearer " + mint(t, "RS256", claims(map[string]any{"exp": testNow.Add(-31 * time.Second).Unix()})), "authn.token_expired", "rsa1"},
		{"expired exactly at leeway", "Bearer " + mint(t, "RS256", claims(map[string]any{"exp": testNow.Add(-30 * time.Second).Unix()})), "authn.token_expired", "rsa1"},
		{"no exp", "Bearer " + mint(t, "RS256", claims(map[string]any{"exp": nil})), "authn.token_malformed", "rsa1"},
		{"exp as string", "Bearer " + mint(t, "RS256", claims(map[string]any{"exp": "1900000000"})), "authn.token_malformed", "rsa1"},
		{"nbf in future", "Bearer " + mint(t, "RS256", claims(map[string]any{"nbf": testNow.Add(31 * time.Second).Unix()})), "authn.token_not_yet_valid", "rsa1"},
		{"iat in future", "Bearer " + mint(t, "RS256", claims(map[string]any{"iat": testNow.Add(time.Hour).Unix()})), "authn.token_not_yet_valid", "rsa1"},
		{"unknown kid", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"nope"}`, good), "authn.unknown_key", "nope"},
		{"embedded jwk", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1","jwk":{"kty":"RSA"}}`, good), "authn.header_not_allowed", "rsa1"},
		{"jku", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1","jku":"https://evil.test/jwks"}`, good), "authn.header_not_allowed", "rsa1"},
		{"x5u", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","x5u":"https://evil.test/c"}`, good), "authn.header_not_allowed", ""},
		{"x5c", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","x5c":["MIIB"]}`, good), "authn.header_not_allowed", ""},
		{"crit", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1","crit":["exp"],"exp":1}`, good), "authn.header_not_allowed", "rsa1"},
		{"duplicate alg", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"HS256","kid":"rsa1","alg":"RS256"}`, good), "authn.token_malformed", "rsa1"},
		{"duplicate sub", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1"}`, strings.Replace(good, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)), "authn.token_malformed", "rsa1"},
		{"claims not an object", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1"}`, `["x"]`), "authn.token_malformed", "rsa1"},
		{"trailing garbage in claims", "Bearer " + mintRaw(t, "RS256", k.rsa, `{"alg":"RS256","kid":"rsa1"}`, good+"x"), "authn.token_malformed", "rsa1"},
		{"control character in sub", "Bearer " + mint(t, "RS256", claims(map[string]any{"sub": "a\r\nX-Admin: 1"})), "authn.token_malformed", "rsa1"},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenBytes+1), "authn.token_malformed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, ex, h := run(t, f, c.auth)
			if code != c.code {
				t.Fatalf("code = %q (%s), want %q", code, ex.Detail(), c.code)
			}
			if h.Get("X-Auth-Subject") != "" {
				t.Fatalf("a refusal set X-Auth-Subject")
			}
			www := respHeader(ex, "WWW-Authenticate")
			switch {
			case c.code == "authn.token_missing" && www != "Bearer":
				t.Fatalf("WWW-Authenticate = %q, want bare Bearer", www)
			case c.code != "authn.token_missing" && !strings.HasPrefix(www, `Bearer error="invalid_token", error_description="`):
				t.Fatalf("WWW-Authenticate = %q", www)
			}
			if ex.Reason() != nil || ex.Identity.Verified {
				t.Fatalf("refusal recorded as verified identity")
			}
			if c.code != "authn.token_missing" && string(ex.Identity.KeyID) != c.wantKID {
				t.Fatalf("kid hint = %q, want %q", ex.Identity.KeyID, c.wantKID)
			}
		})
	}
}

func TestRefusalHints(t *testing.T) {
	f := newFileFilter(t, "", "")
	tok := mint(t, "RS256", claims(map[string]any{"sub": "bob", "exp": testNow.Add(-time.Hour).Unix()}))
	code, ex, _ := run(t, f, "Bearer "+tok)
	if code != "authn.token_expired" {
		t.Fatalf("code %q", code)
	}
	sum := sha256.Sum256([]byte("bob"))
	id := ex.Identity
	if id.Verified || id.Method != filters.AuthJWT || string(id.Issuer) != testIssuer || string(id.KeyID) != "rsa1" ||
		string(id.Subject) != "sha256:"+hex.EncodeToString(sum[:12]) || id.Roles != 0 {
		t.Fatalf("hints %+v (subject %q)", id, id.Subject)
	}
	if strings.Contains(string(ex.Detail()), tok) {
		t.Fatal("detail echoes the token")
	}
	var body []byte
	ex.Refuse(refusals[refExpired].reason)
	body = ex.AppendProblem(body)
	if !strings.Contains(string(body), `"reason":"authn.token_expired"`) {
		t.Fatalf("problem body %s", body)
	}
}

func TestBearerScheme(t *testing.T) {
	f := newFileFilter(t, "", "")
	tok := mint(t, "ES256", claims(nil))
	f2 := func(auth, want string) {
		t.Helper()
		if code, ex, _ := run(t, f, auth); code != want {
			t.Fatalf("%q: code %q (%s), want %q", auth, code, ex.Detail(), want)
		}
	}
	f2("Bearer "+tok, "")
	f2("bearer "+tok, "")
	f2("BEARER "+tok, "")
	f2("Bearer  "+tok+" ", "")
	f2("Bearer\t"+tok, "")
	f2("Bearertoken", "authn.token_missing")
	f2(tok, "authn.token_missing")
	f2("Bearer "+tok+" extra", "authn.token_malformed")
}

func TestCustomHeaderAndOptional(t *testing.T) {
	f := newFileFilter(t, "", "header: x-access-token\noptional: true\n")
	tok := mint(t, "EdDSA", claims(nil))
	code, ex, h := run(t, f, "", "X-Access-Token", tok, "X-Auth-Roles", "admin")
	if code != "" || string(ex.Identity.Subject) != "alice" || h.Get("X-Auth-Roles") != "viewer" {
		t.Fatalf("custom header: code %q identity %+v roles %q", code, ex.Identity, h.Get("X-Auth-Roles"))
	}
	code, ex, h = run(t, f, "")
	if code != "" || ex.Identity.Verified || len(ex.Identity.Subject) != 0 || h.Get("X-Auth-Roles") != "" || h.Get("X-Auth-Subject") != "" {
		t.Fatalf("anonymous: code %q identity %+v headers %v", code, ex.Identity, h)
	}
	code, _, _ = run(t, f, "", "X-Access-Token", tok[:len(tok)-4]+"AAAA")
	if code != "authn.bad_signature" {
		t.Fatalf("optional route with a bad token: %q", code)
	}
}

func TestRolesAndTenantClaims(t *testing.T) {
	cases := []struct {
		name, rolesClaim string
		claims           map[string]any
		want             string
	}{
		{"roles array", "", map[string]any{"roles": []string{"admin", "unknown", "viewer"}}, "viewer,admin"},
		{"keycloak realm roles", "realm_access.roles", map[string]any{"realm_access": map[string]any{"roles": []string{"editor"}, "x": 1}}, "editor"},
		{"scope string", "scope", map[string]any{"scope": "openid  billing:read viewer"}, "viewer,billing:read"},
		{"groups", "groups", map[string]any{"groups": []any{"admin", 7, "editor"}}, "editor,admin"},
		{"missing claim", "groups", map[string]any{}, ""},
		{"wrong type", "roles", map[string]any{"roles": 42}, ""},
		{"escaped names", "", map[string]any{"roles": []string{"ad\u006din"}}, "admin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := "    tenant_claim: org.id\n"
			if c.rolesClaim != "" {
				extra += "    roles_claim: " + c.rolesClaim + "\n"
			}
			f := newFileFilter(t, extra, "")
			over := map[string]any{"roles": nil, "org": map[string]any{"id": "acme"}}
			for k, v := range c.claims {
				over[k] = v
			}
			code, ex, h := run(t, f, "Bearer "+mint(t, "ES384", claims(over)))
			if code != "" {
				t.Fatalf("refused %s", code)
			}
			if h.Get("X-Auth-Roles") != c.want {
				t.Fatalf("roles header %q, want %q", h.Get("X-Auth-Roles"), c.want)
			}
			if got := strings.Join(f.roles.Names(ex.Identity.Roles), ","); got != c.want {
				t.Fatalf("role set %q, want %q", got, c.want)
			}
			if string(ex.Identity.Tenant) != "acme" || h.Get("X-Auth-Tenant") != "acme" {
				t.Fatalf("tenant %q header %q", ex.Identity.Tenant, h.Get("X-Auth-Tenant"))
			}
		})
	}
}

func TestCacheHonoursExpiry(t *testing.T) {
	now := testNow
	f := newFileFilter(t, "", "leeway: 0s\n")
	f.now = func() time.Time { return now }
	tok := mint(t, "RS256", claims(map[string]any{"exp": testNow.Add(10 * time.Second).Unix()}))
	for i := 0; i < 2; i++ {
		if code, _, _ := run(t, f, "Bearer "+tok); code != "" {
			t.Fatalf("refused %s", code)
		}
	}
	if f.m.hits.Get() != 1 || f.m.misses.Get() != 1 {
		t.Fatalf("hits %d misses %d", f.m.hits.Get(), f.m.misses.Get())
	}
	now = testNow.Add(10 * time.Second)
	if code, _, _ := run(t, f, "Bearer "+tok); code != "authn.token_expired" {
		t.Fatalf("expired token served: %q", code)
	}
}

func TestCacheBounded(t *testing.T) {
	f := newFileFilter(t, "", "cache: {max_entries: 8}\n")
	for i := 0; i < 100; i++ {
		tok := mint(t, "EdDSA", claims(map[string]any{"jti": i}))
		if code, _, _ := run(t, f, "Bearer "+tok); code != "" {
			t.Fatalf("refused %s", code)
		}
	}
	if n := f.cache.Len(); n > 8 || n == 0 {
		t.Fatalf("cache holds %d entries, want 1..8", n)
	}
	off := newFileFilter(t, "", "cache: {max_entries: 0}\n")
	tok := mint(t, "EdDSA", claims(nil))
	for i := 0; i < 3; i++ {
		if code, _, _ := run(t, off, "Bearer "+tok); code != "" {
			t.Fatalf("refused %s", code)
		}
	}
	if off.cache != nil || off.m.misses.Get() != 3 {
		t.Fatalf("disabled cache: misses %d", off.m.misses.Get())
	}
}

func TestConcurrentHandle(t *testing.T) {
	f := newFileFilter(t, "", "cache: {max_entries: 16}\n")
	var toks []string
	for i := 0; i < 40; i++ {
		toks = append(toks, "Bearer "+mint(t, "ES256", claims(map[string]any{"sub": "u" + itoa(i)})))
	}
	done := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := 0; i < 200; i++ {
				j := (i*7 + g) % len(toks)
				h := filtertest.NewStaticHeaders("Authorization", toks[j])
				ex := exchange(h)
				v := f.Handle(ex)
				if !v.IsContinue() || string(ex.Identity.Subject) != "u"+itoa(j) {
					done <- "bad outcome for token " + itoa(j)
					filters.ReleaseExchange(ex)
					return
				}
				filters.ReleaseExchange(ex)
			}
			done <- ""
		}(g)
	}
	for g := 0; g < 4; g++ {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
}

// TestTokenWithoutSubjectIsRefused: a valid token without sub (or with an
// empty one) would grant roles to a request no record could attribute to a
// principal; it is refused unless allow_no_subject says otherwise.
func TestTokenWithoutSubjectIsRefused(t *testing.T) {
	f := newFileFilter(t, "", "")
	for name, tok := range map[string]string{
		"no sub":    mint(t, "RS256", claims(map[string]any{"sub": nil})),
		"empty sub": mint(t, "RS256", claims(map[string]any{"sub": ""})),
	} {
		code, ex, _ := run(t, f, "Bearer "+tok)
		if code != "authn.token_malformed" || string(ex.Detail()) != "sub claim is required" || ex.Identity.Verified {
			t.Errorf("%s: %q %q verified=%v", name, code, ex.Detail(), ex.Identity.Verified)
		}
	}
	if code, _, _ := run(t, f, "Bearer "+mint(t, "RS256", claims(nil))); code != "" {
		t.Fatalf("a token with sub: %q", code)
	}
	lax := newFileFilter(t, "", "allow_no_subject: true\n")
	if code, ex, _ := run(t, lax, "Bearer "+mint(t, "RS256", claims(map[string]any{"sub": nil}))); code != "" || !ex.Identity.Verified {
		t.Fatalf("allow_no_subject: %q", code)
	}
}

// TestIatInTheFutureHasItsOwnBound: an iat ahead of the clock is bounded by
// iat_leeway (5s by default), not by the 30s leeway exp and nbf get.
func TestIatInTheFutureHasItsOwnBound(t *testing.T) {
	ahead := mint(t, "RS256", claims(map[string]any{"iat": testNow.Add(10 * time.Second).Unix()}))
	if code, ex, _ := run(t, newFileFilter(t, "", ""), "Bearer "+ahead); code != "authn.token_not_yet_valid" || string(ex.Detail()) != "iat is in the future" {
		t.Fatalf("iat 10s ahead: %q %q", code, ex.Detail())
	}
	if code, _, _ := run(t, newFileFilter(t, "", "iat_leeway: 30s\n"), "Bearer "+ahead); code != "" {
		t.Fatalf("iat 10s ahead with iat_leeway 30s: %q", code)
	}
	slight := mint(t, "RS256", claims(map[string]any{"iat": testNow.Add(3 * time.Second).Unix()}))
	if code, _, _ := run(t, newFileFilter(t, "", ""), "Bearer "+slight); code != "" {
		t.Fatalf("iat 3s ahead: %q", code)
	}
}
