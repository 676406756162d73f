package jsonvalidate

import (
	"hash/maphash"
	"regexp"
)

// Instance types, as bits of schema.types (JSON Schema 2020-12 §6.1.1).
const (
	tNull uint8 = 1 << iota
	tBoolean
	tObject
	tArray
	tNumber  // any number, integers included
	tInteger // a number with a zero fractional part
	tString
)

// format is a compiled "format" assertion.
type format uint8

const (
	formatNone format = iota
	formatDateTime
	formatUUID
	formatEmail
)

// schema is one compiled (sub)schema. Every instance location is checked
// against exactly one schema: the subset has no applicators that would run
// several at once ($ref must stand alone and is resolved at compile time),
// which is what lets the validator work in a single streaming pass.
type schema struct {
	never bool  // the false schema: nothing is valid
	types uint8 // 0: any type

	// Objects.
	propNames      []string // unescaped property names
	propSchemas    []*schema
	propAdditional []bool // named only by required: the value is an additional property
	propIndex      map[string]int
	required       []uint64 // bitset over propNames
	nRequired      int
	additional     *schema // nil: any additional property is allowed
	minProps       int64
	maxProps       int64 // -1: no limit

	// Arrays.
	prefixItems []*schema
	items       *schema // nil: any
	minItems    int64
	maxItems    int64 // -1: no limit
	unique      bool

	// Numbers.
	minimum, maximum         *decimal
	exclMinimum, exclMaximum *decimal
	multipleOf               *multiple

	// Strings.
	minLength int64
	maxLength int64 // -1: no limit
	pattern   *regexp.Regexp
	format    format

	// enum and const (const is a one-value enum).
	enum []value

	// hashValues is set when enum holds an object or array, whose match is
	// decided by the instance's value hash.
	hashValues bool

	// Precomputed detail texts, so a refusal formats nothing.
	msg messages
}

// messages are the refusal texts of one schema, rendered at compile time.
type messages struct {
	typ, minimum, maximum, exclMinimum, exclMaximum, multipleOf string
	minLength, maxLength, pattern, format                       string
	minItems, maxItems, minProps, maxProps, enum                string
}

// value is a compiled enum/const member.
type value struct {
	types uint8 // exactly one of tNull, tBoolean, tNumber, tString, tObject, tArray
	b     bool
	s     string
	num   decimal
	hash  uint64 // for objects and arrays: the canonical value hash
}

// hasher computes order-independent value hashes for enum, const and
// uniqueItems on objects and arrays. Its seed is random per compiled schema,
// so collisions cannot be aimed at from outside.
type hasher struct{ seed maphash.Seed }

const (
	hashNull  uint64 = 0x9e3779b97f4a7c15
	hashTrue  uint64 = 0xbf58476d1ce4e5b9
	hashFalse uint64 = 0x94d049bb133111eb
	tagNumber byte   = 'n'
	tagObject uint64 = 0x2545f4914f6cdd1d
	tagArray  uint64 = 0x6a09e667f3bcc909
)

func (h hasher) str(s string) uint64 { return maphash.String(h.seed, s) }

// num hashes the normalized decimal, so 1, 1.0 and 1e0 hash alike.
func (h hasher) num(d decimal) uint64 {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteByte(tagNumber)
	if d.neg {
		m.WriteByte('-')
	}
	m.WriteString(d.a)
	m.WriteString(d.b)
	var e [8]byte
	for i := range e {
		e[i] = byte(uint64(d.exp) >> (8 * i))
	}
	m.Write(e[:])
	return m.Sum64()
}

// mix is a 64-bit finalizer (splitmix64) used to combine hashes.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// member combines a key hash and a value hash into an object member hash;
// members are summed, so the object hash ignores member order.
func member(k, v uint64) uint64 { return mix(k ^ mix(v+0x632be59bd9b4e019)) }

// element folds the i-th array element into an array hash.
func element(acc, v uint64) uint64 { return mix(acc*0x100000001b3 ^ v) }

func objectHash(sum uint64, n int64) uint64 { return mix(sum ^ tagObject ^ uint64(n)) }
func arrayHash(acc uint64, n int64) uint64  { return mix(acc ^ tagArray ^ uint64(n)) }
