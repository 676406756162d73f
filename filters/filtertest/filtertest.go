// Package filtertest has helpers for testing filters without an engine:
// an Exchange built from plain values and a zero-allocation assertion.
package filtertest

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Headers is a simple filters.Headers over a net/http header map.
type Headers struct{ H http.Header }

// Peek implements filters.Headers.
func (h *Headers) Peek(name string) []byte {
	v := h.H.Get(name)
	if v == "" {
		return nil
	}
	return []byte(v)
}

// Set implements filters.Headers.
func (h *Headers) Set(name string, value []byte) { h.H.Set(name, string(value)) }

// Del implements filters.Headers.
func (h *Headers) Del(name string) { h.H.Del(name) }

// NewExchange returns an exchange for method and target (path?query) with
// the given headers and body, as an engine would fill it (without path
// normalization: pass a normalized target).
func NewExchange(method, target string, headers http.Header, body []byte) *filters.Exchange {
	ex := filters.AcquireExchange()
	ex.Method = []byte(method)
	ex.RawTarget = []byte(target)
	path, query := target, ""
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			path, query = target[:i], target[i+1:]
			break
		}
	}
	ex.Path = []byte(path)
	if query != "" {
		ex.Query = []byte(query)
	}
	ex.Body = body
	ex.ContentLength = int64(len(body))
	if headers == nil {
		headers = http.Header{}
	}
	ex.SetHeaders(&Headers{H: headers})
	ex.ClientIP = netip.MustParseAddr("127.0.0.1")
	ex.PeerIP = ex.ClientIP
	return ex
}

// AssertZeroAllocs fails t when f allocates on average.
func AssertZeroAllocs(t testing.TB, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Fatalf("%s: %v allocs per run, want 0", name, n)
	}
}

// StaticHeaders is an allocation-free filters.Headers for tests and
// benchmarks: Set reuses a header's buffer, Del only marks it gone, so a
// warm StaticHeaders (and Reset from a template) allocates nothing.
type StaticHeaders struct {
	names  []string
	values [][]byte
	gone   []bool
}

// NewStaticHeaders returns headers holding the name, value pairs kv.
func NewStaticHeaders(kv ...string) *StaticHeaders {
	h := &StaticHeaders{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], []byte(kv[i+1]))
	}
	return h
}

// Peek implements filters.Headers.
func (h *StaticHeaders) Peek(name string) []byte {
	for i, n := range h.names {
		if n == name && !h.gone[i] {
			return h.values[i]
		}
	}
	return nil
}

// Get is Peek as a string.
func (h *StaticHeaders) Get(name string) string { return string(h.Peek(name)) }

// Set implements filters.Headers.
func (h *StaticHeaders) Set(name string, value []byte) {
	for i, n := range h.names {
		if n == name {
			h.values[i] = append(h.values[i][:0], value...)
			h.gone[i] = false
			return
		}
	}
	h.names = append(h.names, name)
	h.values = append(h.values, append(make([]byte, 0, 64), value...))
	h.gone = append(h.gone, false)
}

// Del implements filters.Headers.
func (h *StaticHeaders) Del(name string) {
	for i, n := range h.names {
		if n == name {
			h.gone[i] = true
		}
	}
}

// Reset makes h a copy of from, reusing its buffers: after the first call
// it does not allocate as long as from's headers keep their sizes.
func (h *StaticHeaders) Reset(from *StaticHeaders) {
	for i := range h.gone {
		h.gone[i] = true
	}
	for i, n := range from.names {
		if !from.gone[i] {
			h.Set(n, from.values[i])
		}
	}
}

// String lists the present headers as "Name: value" lines in insertion
// order.
func (h *StaticHeaders) String() string {
	var b strings.Builder
	for i, n := range h.names {
		if !h.gone[i] {
			b.WriteString(n + ": " + string(h.values[i]) + "\n")
		}
	}
	return b.String()
}
