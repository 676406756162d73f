//go:build !race

package ratelimit

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestHandleZeroAllocs(t *testing.T) {
	f, clk := newTestFilter(t, `
policies:
  - {name: per-principal, rate: 10, burst: 10, key: [principal, client_ip]}
  - {name: daily, rate: 10000, per: 24h, key: [tenant, header:X-Api-Key, param:id]}
`)
	r := newRequest(3, "alice", "2001:db8::7")
	r.tenant = []byte("acme")
	r.headers.Set("X-Api-Key", []byte("k-123"))
	r.params = append(r.params, param{"id", []byte("42")})
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	r.fill(ex)
	f.Handle(ex) // grow the exchange's buffers once
	filtertest.AssertZeroAllocs(t, "allowed, with headers", func() {
		clk.advance(1_000_000) // always allowed
		r.fill(ex)
		if !f.Handle(ex).IsContinue() {
			t.Fatal("refused")
		}
	})
	filtertest.AssertZeroAllocs(t, "refused", func() {
		r.fill(ex)
		for f.Handle(ex).IsContinue() {
			r.fill(ex)
		}
	})
	l := f.policies[0].lim
	key := []byte("some-key")
	filtertest.AssertZeroAllocs(t, "limiter take", func() {
		l.Take(l.HashKey(key), clk.now(), true)
	})
}
