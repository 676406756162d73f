// Package forward holds the HTTP forwarding rules every engine applies the
// same way: which fields are hop-by-hop, whom to believe about the client's
// address, what a request id may look like, how a request target splits
// into path and query, and which framing is ambiguous.
//
// Why a package: the fasthttp engine and the gnet engine must not drift
// apart on security-relevant parsing. Both parse headers into fasthttp's
// header types, so the rules work on those directly.
package forward

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
)

// Header names the engines read or rewrite.
const (
	HeaderConnection      = "Connection"
	HeaderKeepAlive       = "Keep-Alive"
	HeaderProxyConnection = "Proxy-Connection"
	HeaderProxyAuthz      = "Proxy-Authorization"
	HeaderProxyAuthn      = "Proxy-Authenticate"
	HeaderTE              = "TE"
	HeaderTrailer         = "Trailer"
	HeaderUpgrade         = "Upgrade"
	HeaderExpect          = "Expect"
	HeaderXFF             = "X-Forwarded-For"
	HeaderXFProto         = "X-Forwarded-Proto"
	HeaderXFHost          = "X-Forwarded-Host"
	HeaderForwarded       = "Forwarded"
	HeaderXRealIP         = "X-Real-Ip"
	HeaderRequestID       = "X-Request-Id"
	HeaderAllow           = "Allow"
	HeaderRetryAfter      = "Retry-After"
)

// HopByHop are the connection-specific fields of RFC 9110 §7.6.1 (plus the
// legacy Keep-Alive and Proxy-Connection) that a proxy must not forward.
// Transfer-Encoding is framing, which each engine re-creates itself.
var HopByHop = [...]string{
	HeaderConnection, HeaderKeepAlive, HeaderProxyConnection, HeaderProxyAuthz, HeaderProxyAuthn,
	HeaderTE, HeaderTrailer, HeaderUpgrade,
}

var (
	strClose     = []byte("close")
	strKeepAlive = []byte("keep-alive")
)

// RemoveHopByHop deletes the fields RFC 9110 §7.6.1 reserves for one
// connection, including every field the Connection header names, and
// then each of extra (a route's remove_headers, say) that is present.
// scratch is reused to hold the Connection value while fields are
// deleted; the grown buffer is returned.
//
// The headers are scanned once, without normalizing a name, and only the
// fields present are deleted: most requests carry none of them, and each
// deletion costs a normalization and a scan of its own.
func RemoveHopByHop(h *fasthttp.RequestHeader, scratch []byte, extra []string) []byte {
	var s hopScan
	for k, v := range h.All() {
		scratch = s.visit(k, v, scratch, extra)
	}
	return s.remove(h, scratch, extra)
}

// RemoveResponseHopByHop is RemoveHopByHop for an upstream's response.
func RemoveResponseHopByHop(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	var s hopScan
	for k, v := range h.All() {
		scratch = s.visit(k, v, scratch, nil)
	}
	return s.remove(h, scratch, nil)
}

// headerDeleter is what the request and response headers share.
type headerDeleter interface {
	Del(key string)
	DelBytes(key []byte)
}

// hopScan is what one pass over a head found: a bit per HopByHop field
// present, the Connection value (copied to scratch), and a bit per extra
// name present (from bit 16; later names are deleted unchecked).
type hopScan struct {
	present uint64
	conn    bool
}

// hopByLen lists the HopByHop indexes by name length, so a field is
// compared only with the names as long as its own.
var hopByLen = func() (t [24][]uint8) {
	for i, name := range HopByHop {
		t[len(name)] = append(t[len(name)], uint8(i))
	}
	return t
}()

func (s *hopScan) visit(k, v, scratch []byte, extra []string) []byte {
	var candidates []uint8
	if len(k) < len(hopByLen) {
		candidates = hopByLen[len(k)]
	}
	for _, i := range candidates {
		if name := HopByHop[i]; bytes.EqualFold(k, s2b(name)) {
			s.present |= 1 << i
			if i == 0 {
				s.conn = true
				scratch = append(scratch[:0], v...)
			}
			return scratch
		}
	}
	for i, name := range extra {
		if i >= 48 {
			break
		}
		if len(k) == len(name) && bytes.EqualFold(k, s2b(name)) {
			s.present |= 1 << (16 + i)
		}
	}
	return scratch
}

func (s *hopScan) remove(h headerDeleter, scratch []byte, extra []string) []byte {
	if s.conn {
		for rest := scratch; len(rest) > 0; {
			var tok []byte
			tok, rest = NextToken(rest)
			if len(tok) > 0 && !bytes.EqualFold(tok, strClose) && !bytes.EqualFold(tok, strKeepAlive) {
				h.DelBytes(tok)
			}
		}
	}
	for i, name := range HopByHop {
		if s.present&(1<<i) != 0 {
			h.Del(name)
		}
	}
	for i, name := range extra {
		if i >= 48 || s.present&(1<<(16+i)) != 0 {
			h.Del(name)
		}
	}
	return scratch
}

// NextToken returns the first trimmed token of a comma-separated list and
// the rest of the list.
func NextToken(list []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(list, ','); i >= 0 {
		return bytes.TrimSpace(list[:i]), list[i+1:]
	}
	return bytes.TrimSpace(list), nil
}

// HasToken reports whether the comma-separated list holds tok,
// case-insensitively.
func HasToken(list, tok []byte) bool {
	for len(list) > 0 {
		var t []byte
		t, list = NextToken(list)
		if bytes.EqualFold(t, tok) {
			return true
		}
	}
	return false
}

// ClientIP walks X-Forwarded-For from the right, skipping the listener's
// trusted proxies; the first untrusted address is the client. Garbage
// stops the walk at the last address that could be trusted. The caller
// only calls it when the TCP peer itself is trusted.
func ClientIP(xff []byte, peer netip.Addr, l *engine.Listener) netip.Addr {
	client := peer
	for len(xff) > 0 {
		var part []byte
		if i := bytes.LastIndexByte(xff, ','); i >= 0 {
			part, xff = xff[i+1:], xff[:i]
		} else {
			part, xff = xff, nil
		}
		a, err := netip.ParseAddr(b2s(bytes.TrimSpace(part)))
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

// ValidRequestID reports whether a client-supplied X-Request-Id may be
// passed on: at most 128 visible ASCII bytes, no quotes or backslashes.
func ValidRequestID(id []byte) bool {
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

// RequestIDs makes request ids: a per-process random prefix and a
// sequence number, unique without a random read per request. It is safe
// for concurrent use.
type RequestIDs struct {
	prefix [16]byte
	seq    atomic.Uint64
}

// NewRequestIDs draws the random prefix.
func NewRequestIDs() (*RequestIDs, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("cannot seed request ids: %w", err)
	}
	g := &RequestIDs{}
	hex.Encode(g.prefix[:], rnd[:])
	return g, nil
}

// Set returns dst[:0] holding the request's id: presented, the
// X-Request-Id a trusted proxy sent (nil from anyone else), when it is
// valid, a new one otherwise.
func (g *RequestIDs) Set(dst, presented []byte) []byte {
	if ValidRequestID(presented) {
		return append(dst[:0], presented...)
	}
	dst = append(dst[:0], g.prefix[:]...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, g.seq.Add(1), 36)
}

// SplitTarget returns the path and query of a request target in origin
// form (/p?q) or absolute form (http://h/p?q). A fragment, userinfo
// (http://u@h/), asterisk form or anything else is not ok.
func SplitTarget(t []byte) (path, query []byte, ok bool) {
	if len(t) == 0 || bytes.IndexByte(t, '#') >= 0 {
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
		authority := rest
		if i >= 0 {
			authority = rest[:i]
		}
		if bytes.IndexByte(authority, '@') >= 0 {
			// userinfo in a target is an error (RFC 9110 §4.2.4): read
			// leniently it becomes credentials for the upstream.
			return nil, nil, false
		}
		if i < 0 {
			return []byte("/"), nil, true
		}
		t = rest[i:]
		if t[0] == '?' {
			return []byte("/"), t[1:], true
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i], t[i+1:], true
	}
	return t, nil, true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// HasContentLength reports whether raw request headers carry a
// Content-Length field (fasthttp drops it from the parsed header when the
// request is chunked, which hides the CL+TE smuggling ambiguity).
func HasContentLength(raw []byte) bool { return CountField(raw, "Content-Length") > 0 }

// CountField counts the fields named name (ASCII case-insensitively) in a
// raw header block, which holds every field as received.
func CountField(raw []byte, name string) int {
	n := 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], s2b(name)) {
			n++
		}
	}
	return n
}
