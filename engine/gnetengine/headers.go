package gnetengine

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/filters"
)

// The helpers below have the same semantics as the default engine's
// (engine/fasthttpengine/handler.go); both engines must agree on what a
// request means, so a change to one belongs in the other.

// reqHeaders adapts fasthttp's request headers to filters.Headers.
type reqHeaders struct{ h *fasthttp.RequestHeader }

func (a *reqHeaders) Peek(name string) []byte       { return a.h.Peek(name) }
func (a *reqHeaders) Set(name string, value []byte) { a.h.SetBytesV(name, value) }
func (a *reqHeaders) Del(name string)               { a.h.Del(name) }

// hasContentLength reports whether raw request headers carry a
// Content-Length field (fasthttp drops it from the parsed header when the
// request is chunked).
func hasContentLength(raw []byte) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > len("content-length:") && bytes.EqualFold(line[:len("content-length:")], []byte("content-length:")) {
			return true
		}
	}
	return false
}

// clientFromXFF walks X-Forwarded-For from the right, skipping trusted
// proxies; the first untrusted address is the client. Garbage stops the
// walk at the last address we could trust.
func clientFromXFF(xff []byte, peer netip.Addr, l *engine.Listener) netip.Addr {
	client := peer
	for len(xff) > 0 {
		var part []byte
		if i := bytes.LastIndexByte(xff, ','); i >= 0 {
			part, xff = xff[i+1:], xff[:i]
		} else {
			part, xff = xff, nil
		}
		a, err := netip.ParseAddr(filters.B2S(bytes.TrimSpace(part)))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !l.IsTrusted(client) {
			return client
		}
	}
	return client
}

func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendRequestID appends a fresh id: a per-process random prefix and a
// sequence number, unique without a random read per request.
func appendRequestID(dst []byte, prefix []byte, seq uint64) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, seq, 36)
}

// splitTarget returns the path and query of a request target in origin
// form (/p?q) or absolute form (http://h/p?q).
func splitTarget(t []byte) (path, query []byte, ok bool) {
	if len(t) == 0 {
		return nil, nil, false
	}
	if t[0] != '/' {
		var rest []byte
		switch {
		case hasPrefixFold(t, "http://"):
			rest = t[len("http://"):]
		case hasPrefixFold(t, "https://"):
			rest = t[len("https://"):]
		default:
			return nil, nil, false
		}
		i := bytes.IndexAny(rest, "/?")
		if i < 0 {
			return []byte("/"), nil, true
		}
		t = rest[i:]
		if t[0] == '?' {
			return []byte("/"), t[1:], true
		}
	}
	if bytes.IndexByte(t, '#') >= 0 {
		return nil, nil, false
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i], t[i+1:], true
	}
	return t, nil, true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// removeHopByHop deletes the fields RFC 9110 §7.6.1 reserves for one
// connection, including every field the Connection header names.
func removeHopByHop(h *fasthttp.RequestHeader, scratch []byte) []byte {
	if conn := h.Peek(hdrConnection); len(conn) > 0 {
		scratch = append(scratch[:0], conn...)
		forEachToken(scratch, func(tok []byte) {
			if !bytes.EqualFold(tok, strClose) && !bytes.EqualFold(tok, strKeepAlive) {
				h.DelBytes(tok)
			}
		})
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	return scratch
}

// removeResponseHopByHop is removeHopByHop for the upstream's response.
func removeResponseHopByHop(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	if conn := h.Peek(hdrConnection); len(conn) > 0 {
		scratch = append(scratch[:0], conn...)
		forEachToken(scratch, func(tok []byte) {
			if !bytes.EqualFold(tok, strClose) && !bytes.EqualFold(tok, strKeepAlive) {
				h.DelBytes(tok)
			}
		})
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	return scratch
}

// forEachToken calls f for each comma-separated, trimmed token of list.
func forEachToken(list []byte, f func(tok []byte)) {
	for len(list) > 0 {
		var tok []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tok, list = list[:i], list[i+1:]
		} else {
			tok, list = list, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 {
			f(tok)
		}
	}
}

// hasToken reports whether the comma-separated list holds tok
// (case-insensitively).
func hasToken(list, tok []byte) bool {
	for len(list) > 0 {
		var t []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			t, list = list[:i], list[i+1:]
		} else {
			t, list = list, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}
