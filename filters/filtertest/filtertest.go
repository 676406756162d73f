// Package filtertest has helpers for testing filters without an engine:
// an Exchange built from plain values and a zero-allocation assertion.
package filtertest

import (
	"net/http"
	"net/netip"
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
