package introspect

import (
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestTryHandle wants TryHandle to decide, as Handle does, everything the
// cache or the request alone answers, and to say it would wait, without a
// call to the server and leaving the exchange as Handle expects it, for a
// token the cache does not know (or no longer holds in date).
func TestTryHandle(t *testing.T) {
	p := newIDP(t)
	c := newClock()
	f := newTestFilter(t, p, "", c) // forwards the subject in X-Auth-Subject
	opt := newTestFilter(t, p, "optional: true\n", c)
	p.set("good", active("alice", c.unix()+3600, ""))
	try := func(f *Filter, auth string) (code string, decided bool, ex *filters.Exchange, h *filtertest.StaticHeaders) {
		t.Helper()
		h = filtertest.NewStaticHeaders("X-Auth-Subject", "forged")
		if auth != "" {
			h.Set("Authorization", []byte(auth))
		}
		ex = exchange(h)
		t.Cleanup(func() { filters.ReleaseExchange(ex) })
		v, decided := f.TryHandle(ex)
		if !v.IsContinue() {
			code = v.Reason().Code
		}
		return code, decided, ex, h
	}
	type want struct {
		code    string
		decided bool
	}
	check := func(name string, f *Filter, auth string, w want) {
		t.Helper()
		code, decided, ex, h := try(f, auth)
		if code != w.code || decided != w.decided {
			t.Fatalf("%s: code %q decided %v, want %q %v", name, code, decided, w.code, w.decided)
		}
		if !decided {
			if ex.Identity.Subject != nil && len(ex.Identity.Subject) > 0 || ex.ResponseHeaderCount() != 0 || ex.Reason() != nil {
				t.Fatalf("%s: an undecided TryHandle changed the exchange: identity %+v", name, ex.Identity)
			}
			// Handle, run after it, decides as on a fresh exchange.
			if v := f.Handle(ex); !v.IsContinue() && v.Reason().Code != "authn.token_inactive" {
				t.Fatalf("%s: Handle after TryHandle: %s", name, v.Reason().Code)
			}
		}
		// Client-sent identity headers are the pipeline's to delete,
		// before the chain (TestStripIdentity); the filter only sets them.
		_ = h
	}
	check("no token", f, "", want{"authn.token_missing", true})
	check("no token, optional", opt, "", want{"", true})
	check("malformed", f, "Bearer a,b", want{"authn.token_malformed", true})
	check("unknown token: would wait", f, "Bearer good", want{"", false})
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("server hits = %d, want 1 (Handle's call, none from TryHandle)", n)
	}
	check("cache hit", f, "Bearer good", want{"", true})
	check("unknown bad token: would wait", f, "Bearer bad", want{"", false})
	check("negative-cache hit", f, "Bearer bad", want{"authn.token_inactive", true})
	c.advance(defaultNegativeTTL + time.Second)
	check("expired negative entry: would wait", f, "Bearer bad", want{"", false})
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("server hits = %d, want 3", n)
	}
	if _, decided, ex, h := try(f, "Bearer good"); !decided || string(ex.Identity.Subject) != "alice" || h.Get("X-Auth-Subject") != "alice" {
		t.Fatalf("cache hit: decided %v identity %q forwarded %q", decided, ex.Identity.Subject, h.Get("X-Auth-Subject"))
	}
}
