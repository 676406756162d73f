package introspect

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestScopesBecomeIdentityBits: the response's scope member sets the bits
// of the scope names the configuration knows, on the call and on the
// cache hit; unknown names are ignored. The names are interned only after
// the filter is built, as when rbac comes after introspect in a
// configuration.
func TestScopesBecomeIdentityBits(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	if f.scopes == nil {
		t.Fatal("the filter does not keep the configuration's scope table")
	}
	read, _ := f.scopes.Intern("orders:read")
	write, _ := f.scopes.Intern("orders:write")
	p.set("tok-s", active("sam", c.unix()+3600, `"scope":"orders:write  unknown orders:read"`))
	p.set("tok-none", active("nora", c.unix()+3600, ``))
	want := filters.RoleSet(1)<<uint(read) | filters.RoleSet(1)<<uint(write)
	for round := 0; round < 2; round++ {
		code, ex, _ := run(t, f, "Bearer tok-s")
		if code != "" || ex.Identity.Scopes != want {
			t.Errorf("round %d: %q scopes %b, want %b", round, code, ex.Identity.Scopes, want)
		}
		code, ex, _ = run(t, f, "Bearer tok-none")
		if code != "" || ex.Identity.Scopes != 0 {
			t.Errorf("round %d, no scope: %q scopes %b", round, code, ex.Identity.Scopes)
		}
	}
	if p.hits.Load() != 2 {
		t.Errorf("server hits = %d, want 2 (the second round is cached)", p.hits.Load())
	}
}

// TestRequireClaims: require_claims applies to an active token's
// response as jwtauth applies it to claims; a failing response is refused
// 401 authn.claim_required naming the member, and so is its cached copy.
func TestRequireClaims(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "require_claims: {email_verified: true, tenant: [acme, globex], ext.level: present, groups: ops}\n", c)
	exp := c.unix() + 3600
	for _, tc := range []struct{ name, extra, detail string }{
		{"ok", `"email_verified":true,"tenant":"globex","ext":{"level":1},"groups":["dev","ops"]`, ""},
		{"tenant missing", `"email_verified":true,"ext":{"level":1},"groups":"ops"`, `claim "tenant" is required`},
		{"wrong tenant", `"email_verified":true,"tenant":"initech","ext":{"level":1},"groups":"ops"`, `claim "tenant" does not hold a required value`},
		{"email unverified", `"email_verified":"true","tenant":"acme","ext":{"level":1},"groups":"ops"`, `claim "email_verified" does not hold a required value`},
		{"nested null", `"email_verified":true,"tenant":"acme","ext":{"level":null},"groups":"ops"`, `claim "ext.level" is required`},
		{"groups without ops", `"email_verified":true,"tenant":"acme","ext":{"level":1},"groups":["dev"]`, `claim "groups" does not hold a required value`},
	} {
		tok := "tok-" + strings.ReplaceAll(tc.name, " ", "-")
		p.set(tok, active("u", exp, tc.extra))
		for round := 0; round < 2; round++ { // the call, then the cache
			code, ex, _ := run(t, f, "Bearer "+tok)
			if tc.detail == "" && code != "" {
				t.Errorf("%s: refused %s %s", tc.name, code, ex.Detail())
			}
			if tc.detail != "" && (code != "authn.claim_required" || string(ex.Detail()) != tc.detail || ex.Identity.Verified) {
				t.Errorf("%s round %d: %q %q, want authn.claim_required %q", tc.name, round, code, ex.Detail(), tc.detail)
			}
		}
	}
}

// TestKeyVerifiedFirstThenToken: an API key verified by an earlier filter
// and an active token naming another principal are refused 400
// authn.conflicting_credentials, attributed to no one; the same principal
// passes. On the call and on the cache hit.
func TestKeyVerifiedFirstThenToken(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c)
	p.set("tok-alice", active("alice", c.unix()+3600, ``))
	for _, tc := range []struct{ subject, want string }{{"alice", ""}, {"bob", "authn.conflicting_credentials"}} {
		for round := 0; round < 2; round++ {
			ex := exchange(filtertest.NewStaticHeaders("Authorization", "Bearer tok-alice"))
			t.Cleanup(func() { filters.ReleaseExchange(ex) })
			id := &ex.Identity
			id.Subject = append(id.Subject[:0], tc.subject...)
			id.Method, id.Verified = filters.AuthAPIKey, true
			got := ""
			if v := f.Handle(ex); !v.IsContinue() {
				got = v.Reason().Code
			}
			if got != tc.want || (tc.want != "" && (id.Verified || len(id.Subject) != 0 || id.Method != filters.AuthNone)) {
				t.Errorf("key for %s, round %d: %q %+v", tc.subject, round, got, id)
			}
		}
	}
}
