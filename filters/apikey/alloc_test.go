//go:build !race

package apikey

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestZeroAllocs gates the hot path: accepting a key (from either header,
// with the identity and forwarded headers set), refusing one (with the
// fingerprint and challenge), and passing over a request on an optional
// route, all allocate nothing once the exchange's buffers have grown.
func TestZeroAllocs(t *testing.T) {
	req, opt := config(""), config("optional: true\n")
	cases := []struct {
		name, cfg string
		r         *benchRequest
		want      string
	}{
		{"accepted header", req, newBenchRequest(false, "X-Api-Key", ciKey, "X-Auth-Subject", "forged"), ""},
		{"accepted authorization", req, newBenchRequest(false, "Authorization", "apikey "+adminKey), ""},
		{"invalid", req, newBenchRequest(false, "X-Api-Key", wrongKey), "authn.key_invalid"},
		{"missing", req, newBenchRequest(false), "authn.key_missing"},
		{"anonymous", opt, newBenchRequest(false, "Authorization", "Bearer x"), ""},
		{"after jwt optional", opt, newBenchRequest(true), ""},
		{"after jwt, conflicting key", req, newBenchRequest(true, "X-Api-Key", ciKey), "authn.conflicting_credentials"},
		{"after jwt, second factor", config("second_factor: true\n"), newBenchRequest(true, "X-Api-Key", ciKey), ""},
	}
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	for _, c := range cases {
		f, _ := newTestFilter(t, c.cfg)
		c.r.fill(ex)
		if got := codeOf(f.Handle(ex)); got != c.want {
			t.Fatalf("%s: got %q, want %q", c.name, got, c.want)
		}
		filtertest.AssertZeroAllocs(t, c.name, func() {
			c.r.fill(ex)
			sink = f.Handle(ex)
		})
	}
}
