package filters

import (
	"strconv"
	"unicode/utf8"
)

// Decision classifies the outcome of a request for the audit log and
// metrics. It is stable: its numeric values are written to disk.
type Decision uint8

// Decisions, in the order they are encoded.
const (
	DecisionAllowed       Decision = iota // forwarded to the upstream
	DecisionDenied                        // refused by authentication or authorization
	DecisionLimited                       // refused by a rate limit
	DecisionThrottled                     // shed by a concurrency limit or overload
	DecisionInvalid                       // refused as malformed input
	DecisionNotFound                      // no route matched
	DecisionUpstreamError                 // the upstream failed or timed out
	DecisionAborted                       // the client went away
	DecisionFailed                        // the proxy itself failed
	numDecisions
)

var decisionNames = [numDecisions]string{
	"allowed", "denied", "limited", "throttled", "invalid", "not_found",
	"upstream_error", "aborted", "failed",
}

// String returns the decision's stable lower-case name.
func (d Decision) String() string {
	if d < numDecisions {
		return decisionNames[d]
	}
	return "decision(" + strconv.Itoa(int(d)) + ")"
}

// ParseDecision returns the decision named s.
func ParseDecision(s string) (Decision, bool) {
	for i, n := range decisionNames {
		if n == s {
			return Decision(i), true
		}
	}
	return 0, false
}

// Reason is a stable refusal code with its HTTP status and pre-rendered
// problem+json body (RFC 9457). Reasons are declared once, at package level
// or at compile time, and never mutated afterwards, so they are safe to share
// between goroutines.
type Reason struct {
	// Code is the stable machine-readable code, such as "authn.token_expired".
	Code string
	// Status is the HTTP status answered with this reason.
	Status int
	// Title is a short human-readable summary.
	Title string
	// Decision classifies the outcome for the audit log.
	Decision Decision

	prefix []byte // `{"type":…,"title":…,"status":…,"reason":…`
}

// NewReason declares a refusal reason. The body is rendered here, once.
func NewReason(code string, status int, decision Decision, title string) *Reason {
	r := &Reason{Code: code, Status: status, Title: title, Decision: decision}
	b := make([]byte, 0, 128+len(code)+len(title))
	b = append(b, `{"type":"urn:tollgate:problem:`...)
	b = appendJSONEscaped(b, code)
	b = append(b, `","title":"`...)
	b = appendJSONEscaped(b, title)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"reason":"`...)
	b = appendJSONEscaped(b, code)
	b = append(b, '"')
	r.prefix = b
	return r
}

// AppendProblem appends the reason's application/problem+json body to dst.
// detail and requestID are optional; detail is cut to MaxDetail bytes so a
// refusal never echoes large input back.
func (r *Reason) AppendProblem(dst, detail, requestID []byte) []byte {
	dst = append(dst, r.prefix...)
	if len(detail) > 0 {
		if len(detail) > MaxDetail {
			// Cut at a rune's start, so the cut leaves no broken rune.
			cut := MaxDetail
			for i := MaxDetail; i > MaxDetail-utf8.UTFMax; i-- {
				if utf8.RuneStart(detail[i]) {
					cut = i
					break
				}
			}
			detail = detail[:cut]
		}
		dst = append(dst, `,"detail":"`...)
		dst = appendJSONEscaped(dst, b2s(detail))
		dst = append(dst, '"')
	}
	if len(requestID) > 0 {
		dst = append(dst, `,"request_id":"`...)
		dst = appendJSONEscaped(dst, b2s(requestID))
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

// MaxDetail bounds the detail text of a problem body.
const MaxDetail = 256

// ProblemContentType is the media type of refusal bodies (RFC 9457).
const ProblemContentType = "application/problem+json"

const hexDigits = "0123456789abcdef"

// appendJSONEscaped appends s as the inside of a JSON string (RFC 8259
// §7). Valid UTF-8 passes through as it is, so "≤" stays "≤"; quotes,
// backslashes, control bytes and DEL are escaped, and each byte of
// invalid UTF-8 becomes U+FFFD, so the output is always valid JSON in
// valid UTF-8 whatever the input.
func appendJSONEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, "\\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid inside JavaScript strings.
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// Engine-level reasons shared by every engine.
var (
	ReasonNoRoute             = NewReason("route.not_found", 404, DecisionNotFound, "no route matches the request")
	ReasonMethodNotAllowed    = NewReason("route.method_not_allowed", 405, DecisionNotFound, "method not allowed on this route")
	ReasonBadPath             = NewReason("request.bad_path", 400, DecisionInvalid, "request path is malformed or ambiguous")
	ReasonBadRequest          = NewReason("request.malformed", 400, DecisionInvalid, "request is malformed")
	ReasonAmbiguousFraming    = NewReason("request.ambiguous_framing", 400, DecisionInvalid, "request has both Transfer-Encoding and Content-Length")
	ReasonHeaderTooLarge      = NewReason("request.header_too_large", 431, DecisionInvalid, "request line or headers are too large")
	ReasonRequestTimeout      = NewReason("request.timeout", 408, DecisionInvalid, "request was not received in time")
	ReasonVersionNotSupported = NewReason("request.version_not_supported", 505, DecisionInvalid, "HTTP version not supported; this proxy speaks HTTP/1.1 and HTTP/1.0")
	ReasonBodyTooLarge        = NewReason("request.body_too_large", 413, DecisionInvalid, "request body exceeds the route's limit")
	ReasonUpstreamDown        = NewReason("upstream.unavailable", 502, DecisionUpstreamError, "upstream is unavailable")
	ReasonUpstreamTimeout     = NewReason("upstream.timeout", 504, DecisionUpstreamError, "upstream did not answer in time")
	ReasonUpstreamBad         = NewReason("upstream.bad_response", 502, DecisionUpstreamError, "upstream sent an invalid response")
	ReasonOverloaded          = NewReason("proxy.overloaded", 503, DecisionThrottled, "proxy is overloaded")
	ReasonInternal            = NewReason("proxy.internal_error", 500, DecisionFailed, "internal proxy error")
	ReasonClientAborted       = NewReason("client.aborted", 499, DecisionAborted, "client closed the connection")
	// ReasonUpstreamBroken is recorded (never answered: the status line is
	// already sent) when the upstream fails in the middle of a body it
	// was relaying.
	// ReasonDuplicateCredentials refuses a request with two fields of a
	// header its route reads a credential from, before any filter runs: it
	// is attributed to no one.
	ReasonDuplicateCredentials = NewReason("authn.duplicate_credentials", 400, DecisionInvalid, "the request carries a credential header more than once")
	ReasonUpstreamBroken       = NewReason("upstream.stream_broken", 502, DecisionUpstreamError, "upstream failed while the response was streamed")
)
