package jwtauth

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestScopesBecomeIdentityBits: the scope claim (space-separated) and the
// scp claim (array or string) set the bits of the scope names the
// configuration knows, on a verified token and on its cache hit; unknown
// names are ignored. The scope table is filled only after the filter is
// built, as when rbac comes after jwtauth in a configuration.
func TestScopesBecomeIdentityBits(t *testing.T) {
	f := newFileFilter(t, "", "")
	scopes := f.scopes
	if scopes == nil {
		t.Fatal("the filter does not keep the configuration's scope table")
	}
	// Interned after construction: a later filter's rules.
	read, _ := scopes.Intern("orders:read")
	write, _ := scopes.Intern("orders:write")
	admin, _ := scopes.Intern("admin")
	bit := func(i int) filters.RoleSet { return 1 << uint(i) }
	f2 := func(name string, over map[string]any, want filters.RoleSet) {
		t.Helper()
		tok := mint(t, "ES256", claims(over))
		for round := 0; round < 2; round++ { // verified, then cached
			code, ex, _ := run(t, f, "Bearer "+tok)
			if code != "" {
				t.Fatalf("%s: refused %s (%s)", name, code, ex.Detail())
			}
			if ex.Identity.Scopes != want {
				t.Errorf("%s round %d: scopes %b, want %b", name, round, ex.Identity.Scopes, want)
			}
		}
	}
	f2("scope string", map[string]any{"sub": "s1", "scope": "orders:read  unknown orders:write"}, bit(read)|bit(write))
	f2("scp array", map[string]any{"sub": "s2", "scp": []any{"admin", 7, "nope"}}, bit(admin))
	f2("scp string", map[string]any{"sub": "s3", "scp": "orders:read"}, bit(read))
	f2("both", map[string]any{"sub": "s4", "scope": "orders:read", "scp": []string{"admin"}}, bit(read)|bit(admin))
	f2("none", map[string]any{"sub": "s5"}, 0)
	f2("wrong type", map[string]any{"sub": "s6", "scope": 42}, 0)
}

// TestRequireClaims: presence, an exact value, one of a list, an array
// claim holding a wanted element, nested paths; a token that fails is
// refused 401 authn.claim_required with a detail naming the claim.
func TestRequireClaims(t *testing.T) {
	f := newFileFilter(t, "", `require_claims:
  email_verified: true
  tenant: [acme, globex]
  groups: ops
  level: 3
  org.id: present
`)
	ok := map[string]any{"email_verified": true, "tenant": "acme", "groups": []string{"dev", "ops"}, "level": 3.0, "org": map[string]any{"id": "o1"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		claims map[string]any
		detail string // "" when accepted
	}{
		{"all good", ok, ""},
		{"other tenant of the list", with("tenant", "globex"), ""},
		{"groups as a string", with("groups", "ops"), ""},
		{"email not verified", with("email_verified", false), `claim "email_verified" does not hold a required value`},
		{"email_verified as a string", with("email_verified", "true"), `claim "email_verified" does not hold a required value`},
		{"tenant missing", with("tenant", nil), `claim "tenant" is required`},
		{"tenant null", with("tenant", "null-not"), `claim "tenant" does not hold a required value`},
		{"wrong tenant", with("tenant", "initech"), `claim "tenant" does not hold a required value`},
		{"groups without ops", with("groups", []string{"dev"}), `claim "groups" does not hold a required value`},
		{"wrong level", with("level", 2), `claim "level" does not hold a required value`},
		{"nested missing", with("org", map[string]any{"name": "x"}), `claim "org.id" is required`},
	}
	for i, c := range cases {
		over := map[string]any{"sub": "u" + string(rune('a'+i))}
		for k, v := range c.claims {
			over[k] = v
		}
		if c.name == "tenant missing" {
			delete(over, "tenant")
		}
		code, ex, _ := run(t, f, "Bearer "+mint(t, "ES256", claims(over)))
		switch {
		case c.detail == "" && code != "":
			t.Errorf("%s: refused %s (%s)", c.name, code, ex.Detail())
		case c.detail != "" && (code != "authn.claim_required" || string(ex.Detail()) != c.detail):
			t.Errorf("%s: %q %q, want authn.claim_required %q", c.name, code, ex.Detail(), c.detail)
		case c.detail != "" && (ex.Identity.Verified || ex.Identity.Scopes != 0):
			t.Errorf("%s: a refused token left a verified identity", c.name)
		}
	}
	// sub stays required by default beside require_claims.
	code, ex, _ := run(t, f, "Bearer "+mint(t, "ES256", claims(func() map[string]any { m := with("sub", nil); m["sub"] = nil; return m }())))
	if code != "authn.token_malformed" || !strings.Contains(string(ex.Detail()), "sub") {
		t.Errorf("no sub: %q %q", code, ex.Detail())
	}
}

func TestRequireClaimsConfigErrors(t *testing.T) {
	k := testKeys(t)
	path := writeFile(t, t.TempDir(), "jwks.json", k.standardJWKS())
	base := "issuers:\n  - issuer: " + testIssuer + "\n    audiences: [api]\n    jwks_file: " + path + "\n"
	for _, c := range []struct{ src, want string }{
		{"require_claims: {a..b: present}", `require_claims.a..b: "a..b" is not a dotted claim path`},
		{"require_claims: {tenant: []}", "require_claims.tenant: list at least one accepted value"},
		{"require_claims: {tenant: [{x: 1}]}", "require_claims.tenant: want strings, booleans or numbers in the list"},
		{"require_claims: {tenant: {x: 1}}", `require_claims.tenant: want "present"`},
	} {
		_, err := newFilter(testSpec(base+c.src+"\n", testRoles()), options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.src, err, c.want)
		}
	}
}

// BenchmarkClaimsAndScopes measures what a verified token's claims cost on
// top of the signature, once per token (the cache keeps the result):
// three require_claims entries and the scope and scp claims.
func BenchmarkClaimsAndScopes(b *testing.B) {
	scopes := filters.NewRoles()
	for _, n := range []string{"orders:read", "orders:write", "admin"} {
		scopes.Intern(n)
	}
	f := &Filter{scopes: scopes}
	reqs, _ := compileClaims(map[string]any{"email_verified": true, "tenant": []any{"acme", "globex"}, "groups": "ops"})
	payload := []byte(`{"iss":"https://issuer.test","sub":"alice","aud":"api","exp":1800003600,"email_verified":true,` +
		`"tenant":"globex","groups":["dev","ops"],"scope":"orders:read orders:write profile","scp":["admin"]}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			if checkClaims(reqs, payload) == nil {
				n += int(f.claimedScopes(payload))
			}
		}
		sink += n
	})
}

// TestKeyVerifiedFirstThenToken: with the API key filter listed before
// jwtauth, a token naming another principal than the key is refused 400
// authn.conflicting_credentials and the request is attributed to no one;
// one naming the same principal (subject and tenant) is accepted. Both on
// the verification and on the cache hit.
func TestKeyVerifiedFirstThenToken(t *testing.T) {
	f := newFileFilter(t, "    tenant_claim: tid\n", "")
	byKey := func(subject, tenant string) func(*filters.Exchange) {
		return func(ex *filters.Exchange) {
			id := &ex.Identity
			id.Subject = append(id.Subject[:0], subject...)
			id.Tenant = append(id.Tenant[:0], tenant...)
			id.KeyID = append(id.KeyID[:0], "key-1"...)
			id.Method, id.Verified = filters.AuthAPIKey, true
		}
	}
	tok := "Bearer " + mint(t, "ES256", claims(map[string]any{"sub": "alice", "tid": "acme"}))
	for _, c := range []struct {
		name   string
		prior  func(*filters.Exchange)
		want   string
		method filters.AuthMethod
	}{
		{"same principal", byKey("alice", "acme"), "", filters.AuthJWT},
		{"other subject", byKey("bob", "acme"), "authn.conflicting_credentials", filters.AuthNone},
		{"other tenant", byKey("alice", "globex"), "authn.conflicting_credentials", filters.AuthNone},
		{"key without tenant", byKey("alice", ""), "authn.conflicting_credentials", filters.AuthNone},
		{"no key", func(*filters.Exchange) {}, "", filters.AuthJWT},
	} {
		for round := 0; round < 2; round++ {
			h := filtertest.NewStaticHeaders("Authorization", tok)
			ex := exchange(h)
			c.prior(ex)
			code := ""
			if v := f.Handle(ex); !v.IsContinue() {
				code = v.Reason().Code
			}
			id := &ex.Identity
			if code != c.want || id.Method != c.method || (c.want != "" && (id.Verified || len(id.Subject)+len(id.KeyID) != 0 || respHeader(ex, "WWW-Authenticate") != "")) {
				t.Errorf("%s round %d: %q %+v", c.name, round, code, id)
			}
			filters.ReleaseExchange(ex)
		}
	}
}
