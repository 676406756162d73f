//go:build !race

package jsonvalidate

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestZeroAllocs gates the hot path: validating valid bodies (small and
// 64 KiB, with escapes, uniqueItems, formats, patterns and a composite
// enum) and every refusal allocates nothing once the pooled buffers have
// grown.
func TestZeroAllocs(t *testing.T) {
	f := newTestFilter(t, "schema_file: testdata/order.schema.json\ndecode: [gzip, zstd]\nquery: {page: {pattern: '^[0-9]+$', max_length: 6}}\nheaders: {X-Tenant: {required: true, pattern: '^[a-z]+$'}}\n")
	ok := func(ex *filters.Exchange) bool { return f.Handle(ex).IsContinue() }
	cases := []struct {
		name  string
		body  string
		ct    string
		allow bool
	}{
		{"small", benchSmall, "application/json", true},
		{"64KiB", benchLargeDoc(), "application/json; charset=utf-8", true},
		{"composite enum", `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","customer":{"email":"a@b.co"},"lines":[{"sku":"A","qty":1}],"shipping":{"mode":"pickup","at":[1,2]}}`, "application/json", true},
		{"schema refusal", `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","customer":{"email":"a@b.co"},"lines":[{"sku":"A","qty":1001}]}`, "application/json", false},
		{"escaped key refusal", `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","customer":{"email":"a@b.co"},"lines":[{"sku":"A","qty":1,"n\u00f6te":1}]}`, "application/json", false},
		{"malformed", `{"id":"x",}`, "application/json", false},
		{"duplicate key", `{"id":"x","id":"y"}`, "application/json", false},
		{"media type", `{}`, "text/plain", false},
		{"+json with a quoted charset", benchSmall, `application/merge-patch+json; charset="UTF-8"`, true},
		{"two charsets", benchSmall, "application/json; charset=utf-8; charset=utf-8", false},
	}
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	for _, c := range cases {
		h := filtertest.NewStaticHeaders("Content-Type", c.ct, "X-Tenant", "acme")
		body := []byte(c.body)
		fillExchange(ex, h, body)
		if got := ok(ex); got != c.allow {
			t.Fatalf("%s: allowed=%v, want %v (%s)", c.name, got, c.allow, ex.Detail())
		}
		filtertest.AssertZeroAllocs(t, c.name, func() {
			fillExchange(ex, h, body)
			sink = f.Handle(ex)
		})
	}
	// Encoded bodies: decoded into the pooled buffer by pooled decoders;
	// a coding the route refuses costs nothing either.
	for _, c := range []struct {
		name, coding string
		body         []byte
		allow        bool
	}{
		{"gzip", "gzip", filtertest.Gzip(t, []byte(benchSmall)), true},
		{"zstd", "zstd", zstded(t, []byte(benchSmall)), true},
		{"unsupported coding", "br", []byte(benchSmall), false},
	} {
		h := filtertest.NewStaticHeaders("Content-Type", "application/json", "Content-Encoding", c.coding, "X-Tenant", "acme")
		fillExchange(ex, h, c.body)
		if got := ok(ex); got != c.allow {
			t.Fatalf("%s: allowed=%v, want %v (%s)", c.name, got, c.allow, ex.Detail())
		}
		filtertest.AssertZeroAllocs(t, c.name, func() {
			fillExchange(ex, h, c.body)
			sink = f.Handle(ex)
		})
	}
}
