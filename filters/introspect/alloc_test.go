//go:build !race

package introspect

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestZeroAllocs is the hard gate on the hot path: every answer that does
// not need the server — a cached acceptance, a cached refusal, a missing
// or malformed token, an anonymous request — allocates nothing.
func TestZeroAllocs(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "tenant_claim: tid\n", c)
	opt := newTestFilter(t, p, "optional: true\n", c)
	p.set("good", active("alice", c.unix()+3600, `"tid":"acme","scope":"viewer admin"`))
	good, bad := []byte("Bearer good"), []byte("Bearer bad")
	chain := filters.NewChain(f)

	h := filtertest.NewStaticHeaders("X-Auth-Subject", "forged")
	ex := exchange(h)
	defer filters.ReleaseExchange(ex)
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
	// Warm up: fill the cache and grow the exchange's buffers.
	request(good)
	if v := f.Handle(ex); !v.IsContinue() {
		t.Fatalf("warm-up refused: %s", ex.Detail())
	}
	request(bad)
	f.Handle(ex)
	calls := p.hits.Load()

	filtertest.AssertZeroAllocs(t, "Handle, cache hit", func() {
		request(good)
		if v := f.Handle(ex); !v.IsContinue() || h.Get("X-Auth-Subject") != "alice" {
			t.Fatal("refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "Chain.Run, cache hit", func() {
		request(good)
		if v := chain.Run(ex); !v.IsContinue() {
			t.Fatal("refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: cached inactive token", func() {
		request(bad)
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: token missing", func() {
		request(nil)
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "refusal: malformed token", func() {
		request([]byte("Bearer a,b"))
		if v := f.Handle(ex); v.IsContinue() {
			t.Fatal("allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "TryHandle, cache hit", func() {
		request(good)
		if v, ok := f.TryHandle(ex); !ok || !v.IsContinue() {
			t.Fatal("undecided or refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "TryHandle, negative-cache hit", func() {
		request(bad)
		if v, ok := f.TryHandle(ex); !ok || v.IsContinue() {
			t.Fatal("undecided or allowed")
		}
	})
	filtertest.AssertZeroAllocs(t, "Chain.TryRunHead, cache hit", func() {
		request(good)
		if v, _, done := chain.TryRunHead(ex); !done || !v.IsContinue() {
			t.Fatal("undecided or refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "anonymous on an optional route", func() {
		request(nil)
		if v := opt.Handle(ex); !v.IsContinue() {
			t.Fatal("refused")
		}
	})
	if n := p.hits.Load(); n != calls {
		t.Fatalf("the server was called %d times during the cached runs", n-calls)
	}
}
