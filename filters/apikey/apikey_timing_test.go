package apikey

import (
	"crypto/sha256"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

var (
	sink     filters.Verdict
	sinkHash [sha256.Size]byte
)

// benchRequest is a reusable request: its template headers are restored
// before each Handle, since the filter strips the key.
type benchRequest struct {
	tmpl, live *filtertest.StaticHeaders
	prior      bool
}

func (r *benchRequest) fill(ex *filters.Exchange) {
	ex.Reset()
	ex.Method, ex.Path = methodGET, pathX
	r.live.Reset(r.tmpl)
	ex.SetHeaders(r.live)
	if r.prior {
		verifiedByJWT(ex)
	}
}

var methodGET, pathX = []byte("GET"), []byte("/x")

func newBenchRequest(prior bool, kv ...string) *benchRequest {
	return &benchRequest{tmpl: headers(kv...), live: &filtertest.StaticHeaders{}, prior: prior}
}

func BenchmarkHandle(b *testing.B) {
	cases := []struct {
		name, cfg string
		r         *benchRequest
		want      string
	}{
		{"accepted-header", "", newBenchRequest(false, "X-Api-Key", ciKey, "Accept", "*/*"), ""},
		{"accepted-authorization", "", newBenchRequest(false, "Authorization", "ApiKey "+adminKey), ""},
		{"invalid", "", newBenchRequest(false, "X-Api-Key", wrongKey), "authn.key_invalid"},
		{"missing", "", newBenchRequest(false), "authn.key_missing"},
		{"optional-after-jwt", "optional: true\n", newBenchRequest(true), ""},
		{"conflicting-after-jwt", "", newBenchRequest(true, "X-Api-Key", ciKey), "authn.conflicting_credentials"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f, _ := newTestFilter(b, config(c.cfg))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ex := filters.AcquireExchange()
				defer filters.ReleaseExchange(ex)
				r := &benchRequest{tmpl: c.r.tmpl, live: &filtertest.StaticHeaders{}, prior: c.r.prior}
				var v filters.Verdict
				n := 0
				for pb.Next() {
					r.fill(ex)
					v = f.Handle(ex)
					n++
				}
				if code := codeOf(v); n > 0 && code != c.want {
					b.Errorf("got %q, want %q", code, c.want)
				}
				sink = v
			})
		})
	}
}

// BenchmarkSHA256Key is the floor of an accepted request: hashing the key.
func BenchmarkSHA256Key(b *testing.B) {
	k := []byte(ciKey)
	b.ReportAllocs()
	for b.Loop() {
		sinkHash = sha256.Sum256(k)
	}
}

func codeOf(v filters.Verdict) string {
	if v.IsContinue() {
		return ""
	}
	return v.Reason().Code
}
