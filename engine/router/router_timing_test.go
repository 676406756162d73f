package router

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

var (
	sinkBytes []byte
	sinkInt   int
	sinkStr   string
)

// benchRequests are the lookups the benchmarks cycle through: params,
// literals, a wildcard, a host route, a 404 and a 405.
var benchRequests = []struct{ host, method, path string }{
	{"api.example.com", "GET", "/api/v1/customers/42"},
	{"api.example.com", "DELETE", "/api/v1/orders/1234"},
	{"api.example.com", "GET", "/api/v1/customers/me"},
	{"api.example.com", "GET", "/api/v1/customers/42/orders/9/lines/3"},
	{"api.example.com", "GET", "/api/v1/tickets/77/events/5"},
	{"api.example.com", "POST", "/api/v1/projects"},
	{"api.example.com", "GET", "/static/css/site.css"},
	{"admin.example.com", "GET", "/api/v1/customers/42"},
	{"api.example.com", "GET", "/api/v9/unknown"},
	{"api.example.com", "POST", "/healthz"},
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"clean", "/api/v1/customers/42/orders/9"},
		{"dirty", "/api//v1/./customers/%34%32/../42/orders/%7e9"},
		{"long", "/" + strings.Repeat("segment/", 64)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.path)
			buf := make([]byte, 0, MaxPathLen)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				buf, _ = Normalize(buf[:0], raw)
			}
			sinkBytes = buf
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	r := mustNew(b, apiRoutes())
	type req struct{ host, method, path []byte }
	reqs := make([]req, len(benchRequests))
	for i, br := range benchRequests {
		reqs[i] = req{[]byte(br.host), []byte(br.method), []byte(br.path)}
	}
	b.Run("serial", func(b *testing.B) {
		var ps filters.Params
		b.ReportAllocs()
		i, sum := 0, 0
		for b.Loop() {
			q := &reqs[i%len(reqs)]
			id, _ := r.Lookup(q.host, q.method, q.path, &ps)
			sum += id
			i++
		}
		sinkInt = sum
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var ps filters.Params
			i, sum := 0, 0
			for pb.Next() {
				q := &reqs[i%len(reqs)]
				id, _ := r.Lookup(q.host, q.method, q.path, &ps)
				sum += id
				i++
			}
			sinkInt = sum
		})
	})
}

// serveMuxFor registers the same routes on a stdlib ServeMux, the peer.
func serveMuxFor(b *testing.B, rs []Route) *http.ServeMux {
	mux := http.NewServeMux()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, rt := range rs {
		p := rt.Pattern
		if strings.HasSuffix(p, "/*") {
			p = strings.TrimSuffix(p, "*") + "{rest...}"
		}
		p = rt.Host + p
		if len(rt.Methods) == 0 {
			mux.Handle(p, h)
			continue
		}
		for _, m := range rt.Methods {
			mux.Handle(m+" "+p, h)
		}
	}
	return mux
}

// BenchmarkServeMuxMatch matches the same requests with http.ServeMux.
// It only resolves the handler (no path values are set), so it does less
// than Lookup.
func BenchmarkServeMuxMatch(b *testing.B) {
	mux := serveMuxFor(b, apiRoutes())
	reqs := make([]*http.Request, len(benchRequests))
	for i, br := range benchRequests {
		reqs[i] = &http.Request{Method: br.method, Host: br.host, URL: &url.URL{Path: br.path}}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, pat := mux.Handler(reqs[i%len(reqs)])
			sinkStr = pat
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i, n := 0, 0
			for pb.Next() {
				_, pat := mux.Handler(reqs[i%len(reqs)])
				n += len(pat)
				i++
			}
			sinkInt = n
		})
	})
}
