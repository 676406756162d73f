package jsonvalidate

import (
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Refusal reasons.
var (
	reasonBody      = filters.NewReason("validate.body_invalid", 400, filters.DecisionInvalid, "request body does not match the route's schema")
	reasonMalformed = filters.NewReason("validate.json_malformed", 400, filters.DecisionInvalid, "request body is not well-formed JSON")
	reasonQuery     = filters.NewReason("validate.query_invalid", 400, filters.DecisionInvalid, "query parameter is missing or invalid")
	reasonHeader    = filters.NewReason("validate.header_invalid", 400, filters.DecisionInvalid, "request header is missing or invalid")
	reasonMedia     = filters.NewReason("validate.unsupported_media_type", 415, filters.DecisionInvalid, "request body must be JSON, with one Content-Type naming a media type the route accepts")
	reasonEncoding  = filters.NewReason("validate.unsupported_encoding", 415, filters.DecisionInvalid, "request body has a Content-Encoding the route does not decode")
	reasonTooLarge  = filters.NewReason("validate.body_too_large", 413, filters.DecisionInvalid, "request body exceeds the route's validation limit")
)

// Filter validates requests. It is immutable after New and safe for
// concurrent use by several chains.
type Filter struct {
	route    string
	schema   *Schema // nil: no body validation
	maxBytes int64
	maxDepth int
	methods  []string // methods that must carry a JSON body
	media    []mediaType
	codings  int    // coding bits the route decodes (decode)
	accepted string // the refusal detail naming what is accepted
	query    []paramRule
	headers  []paramRule
	pool     sync.Pool
	m        *filterMetrics
}

// Interface guard.
var _ filters.Filter = (*Filter)(nil)

// Name implements filters.Filter.
func (f *Filter) Name() string { return "jsonvalidate" }

// ReadsBody implements filters.BodyReader: the filter runs once the body
// is read.
func (f *Filter) ReadsBody() bool { return true }

// paramRule is a compiled query-parameter or header rule.
type paramRule struct {
	name      string
	required  bool
	pattern   *regexp.Regexp
	maxLength int
	// Refusal texts, rendered at compile time.
	msgMissing, msgPattern, msgLength, msgEncoding string
}

func (f *Filter) acquire() *validator {
	if v, ok := f.pool.Get().(*validator); ok {
		return v
	}
	v := &validator{maxDepth: f.maxDepth}
	if f.schema != nil {
		v.root, v.h = f.schema.root, f.schema.h
	}
	return v
}

func (f *Filter) release(v *validator) {
	v.reset()
	v.dec.release()
	f.pool.Put(v)
}

// Handle implements filters.Filter. It checks headers, then the query, then
// the body, and refuses on the first problem.
func (f *Filter) Handle(ex *filters.Exchange) filters.Verdict {
	for i := range f.headers {
		r := &f.headers[i]
		if msg := r.check(ex.Header(r.name)); msg != "" {
			return f.refuse(ex, reasonHeader, msg)
		}
	}
	if len(f.query) > 0 {
		v := f.acquire()
		msg := f.checkQuery(v, ex.Query)
		f.release(v)
		if msg != "" {
			return f.refuse(ex, reasonQuery, msg)
		}
	}
	if f.schema == nil || !f.wantsBody(ex) {
		f.m.allowed.Inc()
		return filters.Continue
	}
	if ex.ContentLength > f.maxBytes || int64(len(ex.Body)) > f.maxBytes {
		return f.refuse(ex, reasonTooLarge, "")
	}
	if ex.Body == nil && ex.ContentLength > 0 {
		// Streamed past the listener's buffering threshold: it cannot be
		// validated, so it does not go upstream.
		return f.refuse(ex, reasonTooLarge, "the body was not buffered, so it cannot be validated; lower max_bytes or raise the listener's stream_threshold")
	}
	if ex.HeaderCount("Content-Type") != 1 || !allows(f.media, ex.Header("Content-Type")) {
		return f.refuse(ex, reasonMedia, "")
	}
	body := ex.Body
	bit := coding(ex.Header("Content-Encoding"))
	if ex.HeaderCount("Content-Encoding") > 1 || bit < 0 || bit&f.codings != bit {
		return f.refuse(ex, reasonEncoding, f.accepted)
	}
	v := f.acquire()
	if bit != 0 {
		var err error
		if body, err = v.dec.decode(body, bit, f.maxBytes); err != nil {
			f.release(v)
			if err == errTooLarge {
				return f.refuse(ex, reasonTooLarge, "the decoded body exceeds the route's validation limit")
			}
			return f.refuse(ex, reasonMalformed, "the body cannot be decoded as its Content-Encoding says")
		}
	}
	ok := v.run(b2s(body))
	f.m.bodyBytes.Add(len(body))
	if ok {
		f.release(v)
		f.m.allowed.Inc()
		return filters.Continue
	}
	r := reasonBody
	if v.fail == failMalformed {
		r = reasonMalformed
	}
	v.detail = v.appendDetail(v.detail[:0])
	ex.AppendDetail(v.detail...)
	f.release(v)
	f.m.refused(r).Inc()
	return filters.Respond(r)
}

func (f *Filter) refuse(ex *filters.Exchange, r *filters.Reason, detail string) filters.Verdict {
	if detail != "" {
		ex.AppendDetailString(detail)
	}
	f.m.refused(r).Inc()
	return filters.Respond(r)
}

// wantsBody reports whether the request's body is validated: it has one,
// or its method must carry one.
func (f *Filter) wantsBody(ex *filters.Exchange) bool {
	if len(ex.Body) > 0 || ex.ContentLength > 0 {
		return true
	}
	for _, m := range f.methods {
		if string(ex.Method) == m {
			return true
		}
	}
	return false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively; s is lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// check returns the refusal text for a header value, or "".
func (r *paramRule) check(val []byte) string {
	if val == nil {
		if r.required {
			return r.msgMissing
		}
		return ""
	}
	return r.checkValue(b2s(val))
}

func (r *paramRule) checkValue(val string) string {
	if !utf8.ValidString(val) {
		return r.msgEncoding
	}
	if r.maxLength > 0 && utf8.RuneCountInString(val) > r.maxLength {
		return r.msgLength
	}
	if r.pattern != nil && !r.pattern.MatchString(val) {
		return r.msgPattern
	}
	return ""
}

// checkQuery applies the query rules to the raw query string
// (application/x-www-form-urlencoded pairs, WHATWG URL §5.1: '+' is a
// space, %XX escapes are decoded before matching). Every occurrence of a
// ruled parameter is checked. It returns the refusal text, or "".
func (f *Filter) checkQuery(v *validator, q []byte) string {
	var seen uint64
	for len(q) > 0 {
		end := len(q)
		for i, c := range q {
			if c == '&' {
				end = i
				break
			}
		}
		pair := q[:end]
		if end < len(q) {
			q = q[end+1:]
		} else {
			q = nil
		}
		if len(pair) == 0 {
			continue
		}
		eq := len(pair)
		for i, c := range pair {
			if c == '=' {
				eq = i
				break
			}
		}
		var ok bool
		v.keyBuf, ok = formDecode(v.keyBuf[:0], pair[:eq])
		if !ok {
			continue // a name we cannot decode matches no rule
		}
		name := b2s(v.keyBuf)
		for i := range f.query {
			r := &f.query[i]
			if r.name != name {
				continue
			}
			seen |= 1 << uint(i)
			var val []byte
			if eq < len(pair) {
				val = pair[eq+1:]
			}
			if v.scratch, ok = formDecode(v.scratch[:0], val); !ok {
				return r.msgEncoding
			}
			if msg := r.checkValue(b2s(v.scratch)); msg != "" {
				return msg
			}
		}
	}
	for i := range f.query {
		if r := &f.query[i]; r.required && seen&(1<<uint(i)) == 0 {
			return r.msgMissing
		}
	}
	return ""
}

// formDecode appends the form-decoded s to dst; false on a bad escape.
func formDecode(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return dst, false
			}
			h, l := filters.HexDigit(s[i+1]), filters.HexDigit(s[i+2])
			if h < 0 || l < 0 {
				return dst, false
			}
			dst = append(dst, byte(h<<4|l))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}
