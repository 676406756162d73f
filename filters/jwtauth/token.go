package jwtauth

import (
	"encoding/base64"
	"math"
	"strconv"

	"github.com/tollgate-proxy/tollgate/filters"
)

// maxTokenBytes bounds the compact serialization this filter looks at; a
// longer credential is refused as malformed before any decoding.
const maxTokenBytes = 16 << 10

// b64 is the base64url alphabet without padding (RFC 7515 §2), strict:
// non-zero trailing bits are refused so every token has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// alg is a JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
type alg uint8

const (
	algUnknown alg = iota
	algNone
	algRS256
	algRS384
	algRS512
	algPS256
	algPS384
	algPS512
	algES256
	algES384
	algEdDSA
	algHS256
	algHS384
	algHS512
	numAlgs
)

var algNames = [numAlgs]string{"", "none", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"}

func (a alg) String() string { return algNames[a] }

func (a alg) isHMAC() bool { return a >= algHS256 && a <= algHS512 }

// algSet is a bitmask of algs.
type algSet uint32

func (s algSet) has(a alg) bool { return s&(1<<a) != 0 }

func parseAlg(b []byte) alg {
	for i := algNone; i < numAlgs; i++ {
		if string(b) == algNames[i] {
			return i
		}
	}
	return algUnknown
}

// parseError is why a token could not be parsed; it maps to a reason.
type parseError uint8

const (
	parseOK parseError = iota
	parseMalformed
	parseHeaderForbidden
)

// token is the scratch state of one verification. Tokens are pooled: all
// slices point into the raw token or into the token's own buffers, which
// keep their capacity between uses.
type token struct {
	raw          []byte // the compact serialization
	signingInput []byte // raw[:second dot] (RFC 7515 §5.2 step 8)
	header       []byte // decoded JOSE header
	payload      []byte // decoded claims
	sig          []byte // decoded signature
	buf          []byte // backing store for header, payload, sig
	str          []byte // backing store for unescaped strings

	alg       alg
	kid       []byte
	hasKID    bool
	forbidden string // name of a refused header parameter

	iss, sub, aud  []byte // aud is the raw JSON value
	hasIss, hasSub bool
	hasAud         bool
	exp, nbf, iat  int64
	hasExp, hasNbf bool
	hasIat         bool
	claimsParsed   bool
	detail         string
}

func (t *token) reset() {
	*t = token{buf: t.buf[:0], str: t.str[:0]}
}

// parse splits and decodes a compact JWS (RFC 7515 §7.1) and scans its
// header and claims. On failure the fields parsed so far stay set, to serve
// as unverified hints.
func (t *token) parse(raw []byte) parseError {
	t.raw = raw
	if len(raw) > maxTokenBytes {
		t.detail = "token is too long"
		return parseMalformed
	}
	d1, d2 := -1, -1
	for i, c := range raw {
		if c == '.' {
			switch {
			case d1 < 0:
				d1 = i
			case d2 < 0:
				d2 = i
			default:
				t.detail = "token must have three segments"
				return parseMalformed
			}
		}
	}
	if d2 < 0 {
		t.detail = "token must have three segments"
		return parseMalformed
	}
	t.signingInput = raw[:d2]
	if cap(t.buf) < len(raw) {
		t.buf = make([]byte, 0, len(raw)+len(raw)/4)
	}
	if cap(t.str) < len(raw) {
		t.str = make([]byte, 0, len(raw)+len(raw)/4)
	}
	var ok bool
	if t.header, ok = t.decode(raw[:d1]); !ok {
		t.detail = "header is not base64url"
		return parseMalformed
	}
	if e := t.parseHeader(); e != parseOK {
		if t.payload, ok = t.decode(raw[d1+1 : d2]); ok {
			t.parseClaims() // hints only
		}
		return e
	}
	if t.payload, ok = t.decode(raw[d1+1 : d2]); !ok {
		t.detail = "payload is not base64url"
		return parseMalformed
	}
	if !t.parseClaims() {
		return parseMalformed
	}
	if t.sig, ok = t.decode(raw[d2+1:]); !ok {
		t.detail = "signature is not base64url"
		return parseMalformed
	}
	return parseOK
}

// decode appends the base64url decoding of seg to t.buf and returns it. The
// buffer was sized for the whole token, so earlier results stay valid.
func (t *token) decode(seg []byte) ([]byte, bool) {
	start := len(t.buf)
	n := b64.DecodedLen(len(seg))
	if start+n > cap(t.buf) {
		return nil, false
	}
	dst := t.buf[start : start+n]
	m, err := b64.Decode(dst, seg)
	if err != nil {
		return nil, false
	}
	t.buf = t.buf[:start+m]
	return dst[:m], true
}

// Header parameter bits, to refuse duplicates (RFC 7515 §4: names must be
// unique).
const (
	hAlg = 1 << iota
	hKID
)

// parseHeader reads the JOSE header (RFC 7515 §4.1).
func (t *token) parseHeader() parseError {
	seen := 0
	m := newMembers(t.header, true, 0)
	for {
		k, esc, v, ok := m.next()
		if !ok {
			break
		}
		switch {
		case keyIs(k, esc, "alg"):
			if seen&hAlg != 0 {
				t.detail = "duplicate alg"
				return parseMalformed
			}
			seen |= hAlg
			s, rest, ok := stringValue(v, t.str)
			if !ok {
				t.detail = "alg must be a string"
				return parseMalformed
			}
			t.str = rest
			t.alg = parseAlg(s)
		case keyIs(k, esc, "kid"):
			if seen&hKID != 0 {
				t.detail = "duplicate kid"
				return parseMalformed
			}
			seen |= hKID
			s, rest, ok := stringValue(v, t.str)
			if !ok {
				t.detail = "kid must be a string"
				return parseMalformed
			}
			t.str = rest
			t.kid, t.hasKID = s, true
		// RFC 7515 §4.1.11: this verifier implements no extension, so any
		// crit is unknown and the token must be refused.
		case keyIs(k, esc, "crit"):
			t.forbidden = "crit"
		// RFC 7515 §4.1.2–4.1.6: keys carried or pointed to by the token
		// are attacker-chosen; they are refused, never fetched or used.
		case keyIs(k, esc, "jwk"):
			t.forbidden = "jwk"
		case keyIs(k, esc, "jku"):
			t.forbidden = "jku"
		case keyIs(k, esc, "x5u"):
			t.forbidden = "x5u"
		case keyIs(k, esc, "x5c"):
			t.forbidden = "x5c"
		}
	}
	if m.err != nil {
		t.detail = "header is not a JSON object"
		return parseMalformed
	}
	if seen&hAlg == 0 {
		t.detail = "alg is missing"
		return parseMalformed
	}
	if t.forbidden != "" {
		return parseHeaderForbidden
	}
	return parseOK
}

// Claim bits, to refuse duplicates.
const (
	cIss = 1 << iota
	cSub
	cAud
	cExp
	cNbf
	cIat
)

// parseClaims reads the registered claims (RFC 7519 §4.1). It reports
// false with t.detail set when the claims set is not a JSON object or a
// registered claim has the wrong type.
func (t *token) parseClaims() bool {
	t.claimsParsed = true
	seen := 0
	m := newMembers(t.payload, true, 0)
	for {
		k, esc, v, ok := m.next()
		if !ok {
			break
		}
		var bit int
		switch {
		case keyIs(k, esc, "iss"):
			bit = cIss
			t.iss, t.hasIss = t.strClaim(v, "iss must be a string")
		case keyIs(k, esc, "sub"):
			bit = cSub
			t.sub, t.hasSub = t.strClaim(v, "sub must be a string")
		case keyIs(k, esc, "aud"):
			bit = cAud
			if !validAud(v) {
				t.detail = "aud must be a string or an array of strings"
			}
			t.aud, t.hasAud = v, true
		case keyIs(k, esc, "exp"):
			bit = cExp
			t.exp, t.hasExp = t.dateClaim(v, "exp must be a number")
		case keyIs(k, esc, "nbf"):
			bit = cNbf
			t.nbf, t.hasNbf = t.dateClaim(v, "nbf must be a number")
		case keyIs(k, esc, "iat"):
			bit = cIat
			t.iat, t.hasIat = t.dateClaim(v, "iat must be a number")
		default:
			continue
		}
		if seen&bit != 0 {
			t.detail = "duplicate registered claim"
		}
		seen |= bit
	}
	if m.err != nil {
		t.detail = "claims are not a JSON object"
		return false
	}
	return t.detail == ""
}

func (t *token) strClaim(v []byte, msg string) ([]byte, bool) {
	s, rest, ok := stringValue(v, t.str)
	if !ok {
		t.detail = msg
		return nil, false
	}
	t.str = rest
	return s, true
}

// dateClaim parses a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly with a fraction, which is dropped (rounded down).
func (t *token) dateClaim(v []byte, msg string) (int64, bool) {
	if len(v) == 0 || !(v[0] == '-' || ('0' <= v[0] && v[0] <= '9')) {
		t.detail = msg
		return 0, false
	}
	f, err := strconv.ParseFloat(filters.B2S(v), 64)
	if err != nil {
		t.detail = msg
		return 0, false
	}
	f = math.Floor(f)
	const lim = 1 << 53
	if f > lim {
		f = lim
	} else if f < -lim {
		f = -lim
	}
	return int64(f), true
}

// validAud reports whether v is a JSON string or an array of strings.
func validAud(v []byte) bool {
	switch {
	case len(v) > 0 && v[0] == '"':
		return true
	case len(v) > 0 && v[0] == '[':
		e := newElements(v)
		for {
			x, ok := e.next()
			if !ok {
				return true
			}
			if x[0] != '"' {
				return false
			}
		}
	}
	return false
}

// audMatches reports whether the aud value holds one of want (RFC 7519
// §4.1.3).
func audMatches(v []byte, want [][]byte, scratch []byte) bool {
	match := func(s []byte) bool {
		for _, w := range want {
			if string(s) == string(w) {
				return true
			}
		}
		return false
	}
	if len(v) > 0 && v[0] == '"' {
		s, _, _ := stringValue(v, scratch)
		return match(s)
	}
	e := newElements(v)
	for {
		x, ok := e.next()
		if !ok {
			return false
		}
		s, _, ok := stringValue(x, scratch[:0])
		if ok && match(s) {
			return true
		}
	}
}

// lookupPath returns the raw JSON value at a dotted claim path such as
// realm_access.roles, or nil.
func lookupPath(obj []byte, path [][]byte) []byte {
	v := obj
	for _, seg := range path {
		m := newMembers(v, false, 0)
		var found []byte
		for {
			k, esc, val, ok := m.next()
			if !ok {
				break
			}
			if keyIs(k, esc, filters.B2S(seg)) {
				found = val
			}
		}
		if found == nil {
			return nil
		}
		v = found
	}
	return v
}
