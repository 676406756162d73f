//go:build !race

package jwtauth

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestZeroAllocs(t *testing.T) {
	f := newFileFilter(t, "    tenant_claim: tid\n", "")
	opt := newFileFilter(t, "", "optional: true\n")
	f.scopes.Intern("orders:read")
	tok := []byte("Bearer " + mint(t, "ES256", claims(map[string]any{"tid": "acme", "roles": []string{"viewer", "admin"}, "scope": "orders:read other"})))
	expired := []byte("Bearer " + mint(t, "ES256", claims(map[string]any{"exp": testNow.Unix() - 3600})))
	chain := filters.NewChain(f)

	h := filtertest.NewStaticHeaders("X-Auth-Subject", "forged")
	ex := exchange(h)
	defer filters.ReleaseExchange(ex)
	// request prepares ex as a fresh request carrying auth.
	request := func(auth []byte) {
		ex.Reset()
		ex.SetHeaders(h)
		if auth == nil {
			h.Del("Authorization")
		} else {
			h.Set("Authorization", auth)
		}
		h.Set("X-Auth-Subject", []byte("forged"))
	}
	request(tok)
	if v := f.Handle(ex); !v.IsContinue() {
		t.Fatalf("warm-up refused: %s", ex.Detail())
	}
	request(expired)
	f.Handle(ex) // warm the token pool and the exchange's buffers

	filtertest.AssertZeroAllocs(t, "Handle, cache hit", func() {
		request(tok)
		if v := f.Handle(ex); !v.IsContinue() || h.Get("X-Auth-Subject") != "alice" || ex.Identity.Scopes != 1 {
			t.Fatal("refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "Chain.Run, cache hit", func() {
		request(tok)
		if v := chain.Run(ex); !v.IsContinue() {
			t.Fatal("refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: token missing", func() {
		request(nil)
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: malformed token", func() {
		request([]byte("Bearer abc.def"))
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: alg none", func() {
		request([]byte("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."))
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "anonymous on an optional route", func() {
		request(nil)
		if v := opt.Handle(ex); !v.IsContinue() {
			t.Fatal("refused")
		}
	})
}

// TestClaimsAndScopesDoNotAllocate: require_claims and the scope claims,
// checked once per verified token, allocate nothing either.
func TestClaimsAndScopesDoNotAllocate(t *testing.T) {
	scopes := filters.NewRoles()
	scopes.Intern("orders:read")
	f := &Filter{scopes: scopes}
	reqs, _ := compileClaims(map[string]any{"email_verified": true, "tenant": []any{"acme", "globex"}, "level": 3})
	payload := []byte(`{"email_verified":true,"tenant":"globex","level":3,"scope":"orders:read x","scp":"orders:read"}`)
	filtertest.AssertZeroAllocs(t, "checkClaims and claimedScopes", func() {
		if checkClaims(reqs, payload) != nil || f.claimedScopes(payload) != 1 {
			t.Fatal("wrong result")
		}
	})
}
