package ratelimit

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testSpec returns a spec whose Decode strictly decodes src.
func testSpec(src string) filters.Spec { return filtertest.Spec("ratelimit", "r", src, nil) }

// fakeClock is a settable clock in microseconds.
type fakeClock struct{ us atomic.Int64 }

func (c *fakeClock) now() int64             { return c.us.Load() }
func (c *fakeClock) advance(us int64) int64 { return c.us.Add(us) }

// newTestFilter builds a filter from YAML on a fake clock.
func newTestFilter(t testing.TB, src string) (*Filter, *fakeClock) {
	t.Helper()
	cfg := Config{Headers: true}
	spec := testSpec(src)
	if err := spec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	clk := &fakeClock{}
	f, err := build(spec, cfg, clk.now)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return f, clk
}

// request describes a test request; fill writes it into an exchange
// without allocating once the exchange's buffers have grown.
type request struct {
	route   *filters.Route
	subject []byte
	tenant  []byte
	ip      netip.Addr
	headers *filtertest.StaticHeaders
	params  []param
}

func newRequest(routeIdx int, subject, ip string) *request {
	r := &request{route: &filters.Route{Name: "route", Index: routeIdx}, subject: []byte(subject), headers: &filtertest.StaticHeaders{}}
	if ip != "" {
		r.ip = netip.MustParseAddr(ip)
	}
	return r
}

type param struct {
	name  string
	value []byte
}

var methodGET = []byte("GET")

func (r *request) fill(ex *filters.Exchange) {
	ex.Reset()
	ex.Method = methodGET
	ex.Route = r.route
	ex.ClientIP = r.ip
	ex.Identity.Subject = append(ex.Identity.Subject, r.subject...)
	ex.Identity.Tenant = append(ex.Identity.Tenant, r.tenant...)
	ex.SetHeaders(r.headers)
	for _, p := range r.params {
		ex.Params.Add(p.name, p.value)
	}
}

// handle runs f on a fresh exchange for r and returns the exchange, which
// the caller releases.
func handle(f *Filter, r *request) (*filters.Exchange, filters.Verdict) {
	ex := filters.AcquireExchange()
	r.fill(ex)
	return ex, f.Handle(ex)
}

// respHeader returns the value of the first response header named name.
func respHeader(ex *filters.Exchange, name string) string {
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		if k, v := ex.ResponseHeader(i); k == name {
			return string(bytes.Clone(v))
		}
	}
	return ""
}
