package apikey

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testSpec returns a spec whose Decode strictly decodes src, sharing roles.
func testSpec(src string, roles *filters.Roles) filters.Spec {
	return filtertest.Spec("apikey", "r", src, roles)
}

// hashOf returns the hex SHA-256 of a key, as an operator would configure it.
func hashOf(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

// staticHeaders is an allocation-free filters.Headers: Del only marks a
// header gone, so its buffer is reused by the next reset.
type staticHeaders struct {
	names  []string
	values [][]byte
	gone   []bool
}

func headers(kv ...string) *staticHeaders {
	h := &staticHeaders{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], []byte(kv[i+1]))
	}
	return h
}

func (h *staticHeaders) Peek(name string) []byte {
	for i, n := range h.names {
		if n == name && !h.gone[i] {
			return h.values[i]
		}
	}
	return nil
}

func (h *staticHeaders) Set(name string, value []byte) {
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

func (h *staticHeaders) Del(name string) {
	for i, n := range h.names {
		if n == name {
			h.gone[i] = true
		}
	}
}

// reset makes h a copy of from, reusing its buffers: after the first call
// it does not allocate as long as from's headers keep their sizes.
func (h *staticHeaders) reset(from *staticHeaders) {
	for i := range h.gone {
		h.gone[i] = true
	}
	for i, n := range from.names {
		if !from.gone[i] {
			h.Set(n, from.values[i])
		}
	}
}

// live returns the headers that would go upstream, as "Name: value" lines
// in insertion order.
func (h *staticHeaders) live() string {
	var b strings.Builder
	for i, n := range h.names {
		if !h.gone[i] {
			b.WriteString(n + ": " + string(h.values[i]) + "\n")
		}
	}
	return b.String()
}
