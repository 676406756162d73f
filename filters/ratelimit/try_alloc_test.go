//go:build !race

package ratelimit

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// TestTryHandleLeaseZeroAllocs gates the event loop's path: spending a
// held lease through TryHandle allocates nothing.
func TestTryHandleLeaseZeroAllocs(t *testing.T) {
	srv := testredis.Start(t)
	f := newSharedFilter(t, `
redis: {addresses: [`+srv.Addr+`], timeout: 1s, dial_timeout: 1s}
policies:
  - {name: p, rate: 1000000, burst: 1000000, key: [principal], store: redis, mode: lease, lease: 100000, lease_ttl: 1m, on_store_error: deny}`)
	r := newRequest(0, "alloc-user", "192.0.2.1")
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	r.fill(ex)
	if !f.Handle(ex).IsContinue() { // leases a batch far above the low-water mark
		t.Fatal("refused")
	}
	filtertest.AssertZeroAllocs(t, "TryHandle, held lease", func() {
		r.fill(ex)
		if v, decided := f.TryHandle(ex); !decided || !v.IsContinue() {
			t.Fatalf("decided=%v allowed=%v", decided, v.IsContinue())
		}
	})
}
