package jsonvalidate

import (
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// failure classifies why a body was refused.
type failure uint8

const (
	failNone      failure = iota
	failMalformed         // not strict RFC 8259 JSON (validate.json_malformed)
	failSchema            // well-formed but against the schema (validate.body_invalid)
)

// frame is one open object or array.
type frame struct {
	s   *schema // the container's schema; nil: anything
	obj bool
	n   int64 // members or items seen so far

	// The current child: its key (objects) and the schema it is checked
	// against.
	key     string // as written (escaped when keyEsc); for the error pointer
	keyEsc  bool
	keyHash uint64
	child   *schema

	wordsOff int // objects: bitset of the schema properties seen
	hashOff  int // start of this container's key or item hashes

	needHash    bool   // the container's own value hash is wanted
	trackUnique bool   // arrays with uniqueItems: item hashes are kept
	acc         uint64 // value hash accumulator
}

// validator is the per-request state of one validation. It is reused
// through the schema's pool: its slices keep their capacity, so once they
// have grown to a route's typical document, validating allocates nothing.
type validator struct {
	dec      decoder // bodies with a Content-Encoding the route decodes
	root     *schema
	h        hasher
	maxDepth int

	stack   []frame
	words   []uint64
	hashes  []uint64
	scratch []byte // unescaped strings
	keyBuf  []byte // unescaped keys, for pointers in refusals

	// The refusal, when there is one.
	fail     failure
	failAt   int    // malformed: byte offset
	failMsg  string // the rule or syntax problem
	failName string // extra name: a missing required property
	failPtr  int    // number of frames whose child segment makes the pointer
	detail   []byte
}

func (v *validator) reset() {
	v.stack = v.stack[:0]
	v.words = v.words[:0]
	v.hashes = v.hashes[:0]
	v.fail = failNone
	v.failAt, v.failMsg, v.failName, v.failPtr = 0, "", "", 0
	v.detail = v.detail[:0]
}

// schemaFail records a schema failure at the current value (the pointer
// covers every open frame's current child) or, with container, at the
// innermost open container itself.
func (v *validator) schemaFail(msg string, container bool) bool {
	v.fail, v.failMsg = failSchema, msg
	v.failPtr = len(v.stack)
	if container {
		v.failPtr--
	}
	return false
}

// malformed records a syntax failure at byte offset at.
func (v *validator) malformed(at int, msg string) bool {
	v.fail, v.failAt, v.failMsg = failMalformed, at, msg
	return false
}

// enter returns the schema the next value is checked against.
func (v *validator) enter() *schema {
	if len(v.stack) == 0 {
		return v.root
	}
	t := &v.stack[len(v.stack)-1]
	if t.obj {
		return t.child
	}
	s := t.s
	if s == nil {
		return nil
	}
	if t.n < int64(len(s.prefixItems)) {
		return s.prefixItems[t.n]
	}
	return s.items
}

// wantHash reports whether the value about to be read must be hashed: its
// container folds it into its own hash, or keeps it for uniqueItems.
func (v *validator) wantHash() bool {
	if len(v.stack) == 0 {
		return false
	}
	t := &v.stack[len(v.stack)-1]
	return t.needHash || t.trackUnique
}

// leave hands a finished value's hash to its container.
func (v *validator) leave(hv uint64) {
	if len(v.stack) == 0 {
		return
	}
	t := &v.stack[len(v.stack)-1]
	if t.obj {
		if t.needHash {
			t.acc += member(t.keyHash, hv)
		}
		return
	}
	if t.needHash {
		t.acc = element(t.acc, hv)
	}
	if t.trackUnique {
		v.hashes = append(v.hashes, hv)
	}
	t.n++
}

func (v *validator) checkType(s *schema, bit uint8) bool {
	if s.never {
		return v.schemaFail("no value is allowed here", false)
	}
	if s.types != 0 && s.types&bit == 0 {
		return v.schemaFail(s.msg.typ, false)
	}
	return true
}

// push opens a container, after the type check.
func (v *validator) push(s *schema, obj bool) bool {
	if len(v.stack) >= v.maxDepth {
		return false // the caller reports the position
	}
	need := v.wantHash() || (s != nil && s.hashValues)
	v.stack = append(v.stack, frame{s: s, obj: obj, needHash: need, hashOff: len(v.hashes), wordsOff: len(v.words)})
	t := &v.stack[len(v.stack)-1]
	if obj {
		if s != nil && len(s.propNames) > 0 {
			for range (len(s.propNames) + 63) / 64 {
				v.words = append(v.words, 0)
			}
		}
	} else {
		t.trackUnique = s != nil && s.unique
	}
	return true
}

// objectBegin starts an object; false means refused (depth is reported by
// the caller through depthExceeded).
func (v *validator) objectBegin(s *schema) bool {
	if s != nil && !v.checkType(s, tObject) {
		return false
	}
	return v.push(s, true)
}

func (v *validator) arrayBegin(s *schema) bool {
	if s != nil && !v.checkType(s, tArray) {
		return false
	}
	return v.push(s, false)
}

// depthExceeded reports whether a failed begin was a depth refusal.
func (v *validator) depthExceeded() bool { return v.fail == failNone }

// key starts a member. key is the unescaped name; raw is the name as
// written, and esc says whether raw holds escapes.
func (v *validator) key(key, raw string, esc bool) bool {
	t := &v.stack[len(v.stack)-1]
	t.key, t.keyEsc = raw, esc
	t.n++
	s := t.s
	if s != nil {
		if s.maxProps >= 0 && t.n > s.maxProps {
			return v.schemaFail(s.msg.maxProps, true)
		}
		if i := s.prop(key); i >= 0 {
			// A schema property: its seen bit finds a duplicate exactly.
			w, bit := &v.words[t.wordsOff+i/64], uint64(1)<<(uint(i)%64)
			if *w&bit != 0 {
				return v.dupKey(len(v.stack))
			}
			*w |= bit
			if t.needHash {
				t.keyHash = v.h.str(key)
			}
			if !s.propAdditional[i] {
				t.child = s.propSchemas[i]
				return true
			}
			return v.additional(t, s)
		}
	}
	// Any other key: duplicates are found by keyed hash (RFC 8259 §4
	// leaves them undefined; we refuse them so the upstream cannot read a
	// different member than we checked). Small objects are checked as keys
	// arrive, large ones by sorting at the end.
	kh := v.h.str(key)
	t.keyHash = kh
	region := v.hashes[t.hashOff:]
	if len(region) < smallObject {
		for _, h := range region {
			if h == kh {
				return v.dupKey(len(v.stack))
			}
		}
	}
	v.hashes = append(v.hashes, kh)
	if s == nil {
		t.child = nil
		return true
	}
	return v.additional(t, s)
}

// additional sets the child schema of a key that is not a schema property.
func (v *validator) additional(t *frame, s *schema) bool {
	if a := s.additional; a != nil && a.never {
		v.fail, v.failMsg, v.failPtr = failSchema, "property is not allowed", len(v.stack)
		return false
	}
	t.child = s.additional
	return true
}

func (v *validator) dupKey(ptr int) bool {
	v.fail, v.failMsg, v.failPtr, v.failAt = failMalformed, "duplicate key", ptr, -1
	return false
}

// smallObject is the member count below which duplicate keys are found
// by a linear scan as they arrive.
const smallObject = 16

// prop returns the index of property name, or -1.
func (s *schema) prop(name string) int {
	if s.propIndex != nil {
		if i, ok := s.propIndex[name]; ok {
			return i
		}
		return -1
	}
	for i, n := range s.propNames {
		if n == name {
			return i
		}
	}
	return -1
}

// hasDup sorts hs and reports whether a value repeats.
func hasDup(hs []uint64) bool {
	slices.Sort(hs)
	for i := 1; i < len(hs); i++ {
		if hs[i] == hs[i-1] {
			return true
		}
	}
	return false
}

func (v *validator) objectEnd() bool {
	t := &v.stack[len(v.stack)-1]
	region := v.hashes[t.hashOff:]
	if len(region) >= smallObject && hasDup(region) {
		return v.dupKey(len(v.stack) - 1)
	}
	if s := t.s; s != nil {
		if s.nRequired > 0 {
			words := v.words[t.wordsOff:]
			for i, req := range s.required {
				if missing := req &^ words[i]; missing != 0 {
					b := 0
					for missing&1 == 0 {
						missing >>= 1
						b++
					}
					v.failName = s.propNames[i*64+b]
					return v.schemaFail("missing required property ", true)
				}
			}
		}
		if t.n < s.minProps {
			return v.schemaFail(s.msg.minProps, true)
		}
		if s.maxProps >= 0 && t.n > s.maxProps {
			return v.schemaFail(s.msg.maxProps, true)
		}
	}
	hv := uint64(0)
	if t.needHash {
		hv = objectHash(t.acc, t.n)
	}
	if s := t.s; s != nil && s.enum != nil && (!s.hashValues || !s.matchHash(tObject, hv)) {
		return v.schemaFail(s.msg.enum, true)
	}
	v.hashes = v.hashes[:t.hashOff]
	v.words = v.words[:t.wordsOff]
	v.stack = v.stack[:len(v.stack)-1]
	v.leave(hv)
	return true
}

func (v *validator) arrayEnd() bool {
	t := &v.stack[len(v.stack)-1]
	if s := t.s; s != nil {
		if t.n < s.minItems {
			return v.schemaFail(s.msg.minItems, true)
		}
		if s.maxItems >= 0 && t.n > s.maxItems {
			return v.schemaFail(s.msg.maxItems, true)
		}
		if t.trackUnique && hasDup(v.hashes[t.hashOff:]) {
			return v.schemaFail("must not contain duplicate items", true)
		}
	}
	hv := uint64(0)
	if t.needHash {
		hv = arrayHash(t.acc, t.n)
	}
	if s := t.s; s != nil && s.enum != nil && (!s.hashValues || !s.matchHash(tArray, hv)) {
		return v.schemaFail(s.msg.enum, true)
	}
	v.hashes = v.hashes[:t.hashOff]
	v.stack = v.stack[:len(v.stack)-1]
	v.leave(hv)
	return true
}

// item is called before each array element, to enforce maxItems as soon
// as it is passed.
func (v *validator) itemCheck() bool {
	t := &v.stack[len(v.stack)-1]
	if s := t.s; s != nil && s.maxItems >= 0 && t.n >= s.maxItems {
		return v.schemaFail(s.msg.maxItems, true)
	}
	return true
}

func (s *schema) matchHash(bit uint8, hv uint64) bool {
	for i := range s.enum {
		if e := &s.enum[i]; e.types == bit && e.hash == hv {
			return true
		}
	}
	return false
}

func (v *validator) str(s *schema, val string) bool {
	var hv uint64
	if v.wantHash() {
		hv = v.h.str(val)
	}
	if s != nil {
		if !v.checkType(s, tString) {
			return false
		}
		if s.minLength > 0 || s.maxLength >= 0 {
			n := int64(utf8.RuneCountInString(val))
			if n < s.minLength {
				return v.schemaFail(s.msg.minLength, false)
			}
			if s.maxLength >= 0 && n > s.maxLength {
				return v.schemaFail(s.msg.maxLength, false)
			}
		}
		if s.pattern != nil && !matchString(s.pattern, val) {
			return v.schemaFail(s.msg.pattern, false)
		}
		if s.format != formatNone && !checkFormat(s.format, val) {
			return v.schemaFail(s.msg.format, false)
		}
		if s.enum != nil {
			ok := false
			for i := range s.enum {
				if e := &s.enum[i]; e.types == tString && e.s == val {
					ok = true
					break
				}
			}
			if !ok {
				return v.schemaFail(s.msg.enum, false)
			}
		}
	}
	v.leave(hv)
	return true
}

// matchString is the pattern test (JSON Schema 2020-12 §6.3.3: unanchored).
func matchString(re *regexp.Regexp, s string) bool { return re.MatchString(s) }

func (v *validator) number(s *schema, lit string) bool {
	var d decimal
	need := v.wantHash()
	if need || s != nil {
		d = parseDecimal(lit)
	}
	var hv uint64
	if need {
		hv = v.h.num(d)
	}
	if s != nil {
		bit := tNumber
		if d.isInteger() {
			bit |= tInteger
		}
		if s.never {
			return v.schemaFail("no value is allowed here", false)
		}
		if s.types != 0 && s.types&bit == 0 {
			return v.schemaFail(s.msg.typ, false)
		}
		if s.minimum != nil && d.cmp(*s.minimum) < 0 {
			return v.schemaFail(s.msg.minimum, false)
		}
		if s.maximum != nil && d.cmp(*s.maximum) > 0 {
			return v.schemaFail(s.msg.maximum, false)
		}
		if s.exclMinimum != nil && d.cmp(*s.exclMinimum) <= 0 {
			return v.schemaFail(s.msg.exclMinimum, false)
		}
		if s.exclMaximum != nil && d.cmp(*s.exclMaximum) >= 0 {
			return v.schemaFail(s.msg.exclMaximum, false)
		}
		if s.multipleOf != nil && !d.isMultiple(*s.multipleOf) {
			return v.schemaFail(s.msg.multipleOf, false)
		}
		if s.enum != nil {
			ok := false
			for i := range s.enum {
				if e := &s.enum[i]; e.types == tNumber && e.num.cmp(d) == 0 {
					ok = true
					break
				}
			}
			if !ok {
				return v.schemaFail(s.msg.enum, false)
			}
		}
	}
	v.leave(hv)
	return true
}

func (v *validator) boolean(s *schema, b bool) bool {
	if s != nil {
		if !v.checkType(s, tBoolean) {
			return false
		}
		if s.enum != nil {
			ok := false
			for i := range s.enum {
				if e := &s.enum[i]; e.types == tBoolean && e.b == b {
					ok = true
					break
				}
			}
			if !ok {
				return v.schemaFail(s.msg.enum, false)
			}
		}
	}
	hv := hashFalse
	if b {
		hv = hashTrue
	}
	v.leave(hv)
	return true
}

func (v *validator) null(s *schema) bool {
	if s != nil {
		if !v.checkType(s, tNull) {
			return false
		}
		if s.enum != nil {
			ok := false
			for i := range s.enum {
				if s.enum[i].types == tNull {
					ok = true
					break
				}
			}
			if !ok {
				return v.schemaFail(s.msg.enum, false)
			}
		}
	}
	v.leave(hashNull)
	return true
}

// appendDetail appends the refusal's detail text: "<JSON pointer>: <rule>"
// for schema failures and duplicate keys, "byte N: <problem>" for syntax
// errors. Long keys are cut so the text stays short.
func (v *validator) appendDetail(dst []byte) []byte {
	if v.fail == failMalformed && v.failAt >= 0 {
		dst = append(dst, "invalid JSON at byte "...)
		dst = strconv.AppendInt(dst, int64(v.failAt), 10)
		dst = append(dst, ": "...)
		return append(dst, v.failMsg...)
	}
	start := len(dst)
	for i := 0; i < v.failPtr && i < len(v.stack); i++ {
		if len(dst)-start > maxPointer {
			dst = append(dst, "/…"...)
			break
		}
		t := &v.stack[i]
		dst = append(dst, '/')
		if t.obj {
			k := t.key
			if t.keyEsc {
				v.keyBuf = unescape(v.keyBuf[:0], k)
				k = b2s(v.keyBuf)
			}
			dst = appendPointerToken(dst, k)
		} else {
			dst = strconv.AppendInt(dst, t.n, 10)
		}
	}
	if len(dst) == start {
		dst = append(dst, "(root)"...)
	}
	dst = append(dst, ": "...)
	dst = append(dst, v.failMsg...)
	if v.failName != "" {
		dst = strconv.AppendQuote(dst, v.failName)
	}
	return dst
}

// maxPointer bounds the pointer part of a detail; maxToken one key in it.
const (
	maxPointer = 160
	maxToken   = 48
)

// appendPointerToken escapes a key as a JSON Pointer token (RFC 6901 §3:
// "~" → "~0", "/" → "~1"), cut at maxToken bytes on a rune boundary.
func appendPointerToken(dst []byte, k string) []byte {
	cut := false
	if len(k) > maxToken {
		n := maxToken
		for n > 0 && !utf8.RuneStart(k[n]) {
			n--
		}
		k, cut = k[:n], true
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; c {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, c)
		}
	}
	if cut {
		dst = append(dst, "…"...)
	}
	return dst
}
