package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Decision classifies the outcome of a request. Its numeric values are
// written to disk and match the engine's decision codes one for one.
type Decision uint8

// Decisions, in their stable encoding order.
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

// Kind says which phase of a request a record describes.
type Kind uint8

// Record kinds.
const (
	// KindCompletion is the one record written when a request finishes,
	// whatever its outcome.
	KindCompletion Kind = iota
	// KindDecision is written in strict mode before a request is forwarded
	// upstream; a KindCompletion record with the same request id follows.
	KindDecision
	// KindStreamEnd follows the KindCompletion record of a response whose
	// body was streamed. The completion record is written before the first
	// byte is released, so it cannot know how the stream ends; this one,
	// with the same request id, carries the bytes sent, the whole duration
	// and, when the client went away or the upstream failed mid-stream,
	// that decision.
	KindStreamEnd
	numKinds
)

// String returns the kind's stable name.
func (k Kind) String() string {
	switch k {
	case KindCompletion:
		return "completion"
	case KindDecision:
		return "decision"
	case KindStreamEnd:
		return "stream_end"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Field caps, in bytes. Longer values are cut at the cap when encoded and the
// record is flagged as truncated; a decoder refuses longer values.
const (
	MaxRequestID  = 64
	MaxPrincipal  = 256
	MaxAuthMethod = 32
	MaxRoles      = 512
	MaxMethod     = 16
	MaxRoute      = 256
	MaxPath       = 2048
	MaxUpstream   = 256
	MaxReason     = 64
	MaxHintIssuer = 256
	MaxHintKeyID  = 128
	MaxHintHash   = 128
	MaxExt        = 4096
	// MaxRecordSize bounds a canonical record (the tlog-tiles entry limit).
	MaxRecordSize = 65535
	// CommitmentSize is the size of a salted commitment to a personal field.
	CommitmentSize = 16
)

const recordVersion = 1

// Flag bits of the record's flags byte. Unknown bits must be zero.
const (
	flagUnverified = 1 << iota // identity fields are unverified hints
	flagTruncated              // at least one field was cut at its cap
	flagPrincipal              // a principal commitment follows
	flagClientIP               // a client IP commitment follows
	flagMask       = flagUnverified | flagTruncated | flagPrincipal | flagClientIP
)

// Entry is one request as the engine hands it to Append. Append does not
// keep the Entry or any slice it references after it returns, so the caller
// may reuse both.
type Entry struct {
	// Kind is the record kind; the zero value is KindCompletion.
	Kind Kind
	// Start is the wall-clock time the request was accepted, in Unix ns.
	Start int64
	// Duration is the monotonic time from accept to the end of the answer, in ns.
	Duration int64
	// RequestID is the request's id as answered to the client.
	RequestID []byte
	// Principal is the authenticated principal (or unverified subject). It is
	// personal data: the leaf commits to it through a salted hash.
	Principal []byte
	// AuthMethod is how the principal was established ("jwt", "api_key", …).
	AuthMethod string
	// Roles are the principal's role names, comma-separated.
	Roles []byte
	// ClientIP is the client address. It is personal data: the leaf commits to
	// it through a salted hash.
	ClientIP netip.Addr
	// Method is the request method.
	Method []byte
	// Route is the matched route template, empty when none matched.
	Route []byte
	// Path is the normalized path, without query string or credentials.
	Path []byte
	// Status is the HTTP status answered.
	Status uint16
	// BytesIn and BytesOut count request and response body bytes.
	BytesIn, BytesOut uint64
	// Upstream names the upstream the request was forwarded to, if any.
	Upstream string
	// Decision is the outcome class.
	Decision Decision
	// Reason is the stable reason code ("authn.token_expired"), empty when allowed.
	Reason string
	// ConfigGeneration is the generation of the configuration that served the request.
	ConfigGeneration uint64
	// Unverified marks the identity fields (principal and hints) as presented
	// by a client whose credential was refused.
	Unverified bool
	// HintIssuer, HintKeyID, HintSubjectHash and HintKeyFingerprint are
	// identity hints presented with a refused credential.
	HintIssuer, HintKeyID, HintSubjectHash, HintKeyFingerprint []byte
	// Ext holds pre-encoded extension fields (see AppendExt); empty for none.
	Ext []byte
}

// Reset clears e, keeping the capacity of its slices.
func (e *Entry) Reset() {
	*e = Entry{
		RequestID: e.RequestID[:0], Principal: e.Principal[:0], Roles: e.Roles[:0],
		Method: e.Method[:0], Route: e.Route[:0], Path: e.Path[:0],
		HintIssuer: e.HintIssuer[:0], HintKeyID: e.HintKeyID[:0],
		HintSubjectHash: e.HintSubjectHash[:0], HintKeyFingerprint: e.HintKeyFingerprint[:0],
		Ext: e.Ext[:0],
	}
}

// Extension tags (AppendExt) the proxy writes. A reader skips tags it does
// not know, so adding one needs no new record version.
const (
	// ExtRawTarget is the request's path as the client sent it, before
	// normalization and without its query (which may carry credentials,
	// as Path leaves it out for), written when it differs from Path: what
	// a refused request attempted (an encoded slash, a dot segment) and
	// what a request the parser refused carried. At most MaxRawTarget
	// bytes; control bytes are kept as they came and escaped by readers.
	ExtRawTarget = 1
	// ExtFallback names the filter that decided the request by its fail
	// mode because a store it consults was unreachable (a shared
	// rate-limit store: the request was allowed, or limited locally,
	// without the cluster-wide count).
	ExtFallback = 2
)

// MaxRawTarget caps ExtRawTarget.
const MaxRawTarget = 1024

// AppendExt appends one extension field to an Ext buffer. Tags must be
// appended in strictly increasing order, starting at 1.
func AppendExt(dst []byte, tag uint64, value []byte) []byte {
	dst = binary.AppendUvarint(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// Record is a decoded canonical record. Its byte slices alias the decoded
// input and are valid as long as that input is. The personal fields hold
// only commitments unless Reveal succeeded.
type Record struct {
	Kind             Kind
	Unverified       bool
	Truncated        bool
	SaltEpoch        uint64 // Unix seconds of the salt period's start
	Start            int64
	Duration         int64
	RequestID        []byte
	HasPrincipal     bool
	PrincipalCommit  [CommitmentSize]byte
	AuthMethod       []byte
	Roles            []byte
	HasClientIP      bool
	ClientIPCommit   [CommitmentSize]byte
	Method           []byte
	Route            []byte
	Path             []byte
	Status           uint16
	BytesIn          uint64
	BytesOut         uint64
	Upstream         []byte
	Decision         Decision
	Reason           []byte
	ConfigGeneration uint64
	HintIssuer       []byte
	HintKeyID        []byte
	HintSubjectHash  []byte
	HintKeyFP        []byte
	Ext              []byte

	// Revealed reports that Principal and ClientIP hold values checked
	// against their commitments with the period's salt.
	Revealed  bool
	Principal []byte
	ClientIP  netip.Addr
}

// Commitments are computed by the caller's salt; see privacy.go.
type commitments struct {
	principal [CommitmentSize]byte
	clientIP  [CommitmentSize]byte
	epoch     uint64
}

// appendLeaf appends the canonical v1 record of e to dst. Personal fields
// are replaced by the commitments in c. Fields longer than their cap are
// cut and the record flagged. It never fails and does not allocate when
// dst has room.
//
// Layout (all integers uvarint unless noted, byte strings as uvarint
// length + bytes):
//
//	version u8 | kind u8 | flags u8 | salt_epoch | start i64 LE |
//	duration | request_id | [principal commitment 16] | auth | roles |
//	[client_ip commitment 16] | method | route | path | status |
//	bytes_in | bytes_out | upstream | decision u8 | reason | config_gen |
//	hint_issuer | hint_kid | hint_sub_hash | hint_key_fp | ext…
//
// ext runs to the end of the record: (tag, length, value)* with strictly
// increasing tags ≥ 1, so a v1 reader keeps fields it does not know.
func appendLeaf(dst []byte, e *Entry, c *commitments) []byte {
	var flags byte
	if e.Unverified {
		flags |= flagUnverified
	}
	if len(e.Principal) > 0 {
		flags |= flagPrincipal
	}
	if e.ClientIP.IsValid() {
		flags |= flagClientIP
	}
	kind := e.Kind
	if kind >= numKinds {
		kind, flags = KindCompletion, flags|flagTruncated // an invalid kind is not stored as is
	}
	flagsAt := len(dst) + 2
	dst = append(dst, recordVersion, byte(kind), flags)
	dst = binary.AppendUvarint(dst, c.epoch)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Start))
	d := e.Duration
	if d < 0 {
		d = 0
	}
	dst = binary.AppendUvarint(dst, uint64(d))
	trunc := false
	dst, trunc = appendCapped(dst, e.RequestID, MaxRequestID, trunc)
	if flags&flagPrincipal != 0 {
		dst = append(dst, c.principal[:]...)
	}
	dst, trunc = appendCappedString(dst, e.AuthMethod, MaxAuthMethod, trunc)
	dst, trunc = appendCapped(dst, e.Roles, MaxRoles, trunc)
	if flags&flagClientIP != 0 {
		dst = append(dst, c.clientIP[:]...)
	}
	dst, trunc = appendCapped(dst, e.Method, MaxMethod, trunc)
	dst, trunc = appendCapped(dst, e.Route, MaxRoute, trunc)
	dst, trunc = appendCapped(dst, e.Path, MaxPath, trunc)
	dst = binary.AppendUvarint(dst, uint64(e.Status))
	dst = binary.AppendUvarint(dst, e.BytesIn)
	dst = binary.AppendUvarint(dst, e.BytesOut)
	dst, trunc = appendCappedString(dst, e.Upstream, MaxUpstream, trunc)
	dst = append(dst, byte(e.Decision))
	dst, trunc = appendCappedString(dst, e.Reason, MaxReason, trunc)
	dst = binary.AppendUvarint(dst, e.ConfigGeneration)
	dst, trunc = appendCapped(dst, e.HintIssuer, MaxHintIssuer, trunc)
	dst, trunc = appendCapped(dst, e.HintKeyID, MaxHintKeyID, trunc)
	dst, trunc = appendCapped(dst, e.HintSubjectHash, MaxHintHash, trunc)
	dst, trunc = appendCapped(dst, e.HintKeyFingerprint, MaxHintHash, trunc)
	if len(e.Ext) > 0 && len(e.Ext) <= MaxExt && validExt(e.Ext) {
		dst = append(dst, e.Ext...)
	} else if len(e.Ext) > 0 {
		trunc = true // malformed or oversized extensions are dropped, and said so
	}
	if trunc {
		dst[flagsAt] |= flagTruncated
	}
	return dst
}

func appendCapped(dst, v []byte, max int, trunc bool) ([]byte, bool) {
	if len(v) > max {
		v, trunc = v[:max], true
	}
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...), trunc
}

func appendCappedString(dst []byte, v string, max int, trunc bool) ([]byte, bool) {
	if len(v) > max {
		v, trunc = v[:max], true
	}
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...), trunc
}

// ErrBadRecord reports a record that is not in canonical form.
var ErrBadRecord = errors.New("auditlog: malformed record")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uvarint reads a minimally encoded uvarint, so each value has one form.
func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed(dst []byte, what string) {
	if d.err != nil || len(d.b) < len(dst) {
		d.fail(what)
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

// DecodeEntry decodes the canonical record b into r. The slices in r alias
// b. It accepts exactly the byte forms appendLeaf produces, so a decoded
// record re-encodes to the same bytes; any other input is an error wrapping
// ErrBadRecord. It does not allocate on success.
func DecodeEntry(b []byte, r *Record) error {
	if len(b) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes exceeds the record cap", ErrBadRecord, len(b))
	}
	*r = Record{}
	d := decoder{b: b}
	if v := d.byte1("version"); d.err == nil && v != recordVersion {
		return fmt.Errorf("%w: unknown version %d", ErrBadRecord, v)
	}
	r.Kind = Kind(d.byte1("kind"))
	flags := d.byte1("flags")
	if d.err != nil {
		return d.err
	}
	if r.Kind >= numKinds {
		return fmt.Errorf("%w: unknown kind %d", ErrBadRecord, r.Kind)
	}
	if flags&^flagMask != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrBadRecord, flags)
	}
	r.Unverified = flags&flagUnverified != 0
	r.Truncated = flags&flagTruncated != 0
	r.SaltEpoch = d.uvarint("salt epoch")
	var ts [8]byte
	d.fixed(ts[:], "start")
	r.Start = int64(binary.LittleEndian.Uint64(ts[:]))
	dur := d.uvarint("duration")
	if dur > 1<<63-1 {
		d.fail("duration")
	}
	r.Duration = int64(dur)
	r.RequestID = d.bytes("request id", MaxRequestID)
	if flags&flagPrincipal != 0 {
		r.HasPrincipal = true
		d.fixed(r.PrincipalCommit[:], "principal commitment")
	}
	r.AuthMethod = d.bytes("auth method", MaxAuthMethod)
	r.Roles = d.bytes("roles", MaxRoles)
	if flags&flagClientIP != 0 {
		r.HasClientIP = true
		d.fixed(r.ClientIPCommit[:], "client ip commitment")
	}
	r.Method = d.bytes("method", MaxMethod)
	r.Route = d.bytes("route", MaxRoute)
	r.Path = d.bytes("path", MaxPath)
	st := d.uvarint("status")
	if st > 0xffff {
		d.fail("status")
	}
	r.Status = uint16(st)
	r.BytesIn = d.uvarint("bytes in")
	r.BytesOut = d.uvarint("bytes out")
	r.Upstream = d.bytes("upstream", MaxUpstream)
	r.Decision = Decision(d.byte1("decision"))
	r.Reason = d.bytes("reason", MaxReason)
	r.ConfigGeneration = d.uvarint("config generation")
	r.HintIssuer = d.bytes("hint issuer", MaxHintIssuer)
	r.HintKeyID = d.bytes("hint key id", MaxHintKeyID)
	r.HintSubjectHash = d.bytes("hint subject hash", MaxHintHash)
	r.HintKeyFP = d.bytes("hint key fingerprint", MaxHintHash)
	if d.err != nil {
		return d.err
	}
	if len(d.b) > MaxExt || !validExt(d.b) {
		return fmt.Errorf("%w: extensions", ErrBadRecord)
	}
	r.Ext = d.b
	return nil
}

// validExt reports whether b is a well-formed extension list: minimal
// uvarints, tags ≥ 1 strictly increasing, lengths within b.
func validExt(b []byte) bool {
	d := decoder{b: b}
	var last uint64
	for len(d.b) > 0 {
		tag := d.uvarint("ext tag")
		if d.err != nil || tag <= last {
			return false
		}
		last = tag
		d.bytes("ext value", MaxExt)
		if d.err != nil {
			return false
		}
	}
	return true
}

// RawTarget returns the record's ExtRawTarget, or nil when it has none.
func (r *Record) RawTarget() []byte {
	var v []byte
	RangeExt(r.Ext, func(tag uint64, value []byte) {
		if tag == ExtRawTarget {
			v = value
		}
	})
	return v
}

// Fallback returns the record's ExtFallback (the filter that decided by its
// fail mode), or nil when it has none.
func (r *Record) Fallback() []byte {
	var v []byte
	RangeExt(r.Ext, func(tag uint64, value []byte) {
		if tag == ExtFallback {
			v = value
		}
	})
	return v
}

// RangeExt calls fn for each extension field of a record's Ext bytes.
func RangeExt(ext []byte, fn func(tag uint64, value []byte)) {
	d := decoder{b: ext}
	for len(d.b) > 0 && d.err == nil {
		tag := d.uvarint("ext tag")
		v := d.bytes("ext value", MaxExt)
		if d.err == nil {
			fn(tag, v)
		}
	}
}
