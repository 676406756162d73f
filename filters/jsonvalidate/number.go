package jsonvalidate

import (
	"math/bits"
)

// decimal is an exact JSON number read straight from its literal: the value
// is ±digits × 10^exp, where digits is the concatenation of a and b (the
// literal's integer and fraction digits) with leading and trailing zeros
// trimmed. It never rounds, so "numbers beyond the schema's range" are
// refused exactly, whatever their size, and it never allocates: a and b are
// substrings of the literal.
type decimal struct {
	a, b string // digit runs; the significant digits are a+b
	exp  int64  // power of ten of the last digit of a+b
	neg  bool
}

// maxExp bounds exponents so arithmetic on them cannot overflow; numbers
// past it compare as if infinitely large (or small), which is exact for
// every bound a schema can hold.
const maxExp = 1 << 40

// parseDecimal reads a number literal already checked by the scanner
// against RFC 8259 §6 grammar: -? int frac? exp?.
func parseDecimal(lit string) decimal {
	var d decimal
	i := 0
	if i < len(lit) && lit[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intPart := lit[start:i]
	frac := ""
	if i < len(lit) && lit[i] == '.' {
		i++
		fs := i
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
		frac = lit[fs:i]
	}
	var e int64
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		eneg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			eneg = lit[i] == '-'
			i++
		}
		for ; i < len(lit); i++ {
			if e < maxExp {
				e = e*10 + int64(lit[i]-'0')
			}
		}
		if e > maxExp {
			e = maxExp
		}
		if eneg {
			e = -e
		}
	}
	// Trim leading zeros from the integer part, then (if it is empty) from
	// the fraction.
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	fracLen := int64(len(frac))
	if len(intPart) == 0 {
		for len(frac) > 0 && frac[0] == '0' {
			frac = frac[1:]
		}
	}
	// Trim trailing zeros into the exponent.
	e -= fracLen
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
		e++
	}
	if len(frac) == 0 {
		for len(intPart) > 0 && intPart[len(intPart)-1] == '0' {
			intPart = intPart[:len(intPart)-1]
			e++
		}
	}
	d.a, d.b, d.exp = intPart, frac, e
	if d.isZero() {
		d.neg, d.exp = false, 0
	}
	return d
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d decimal) nd() int64 { return int64(len(d.a) + len(d.b)) }

func (d decimal) isZero() bool { return len(d.a) == 0 && len(d.b) == 0 }

// digit returns the i-th significant digit.
func (d decimal) digit(i int64) byte {
	if i < int64(len(d.a)) {
		return d.a[i]
	}
	return d.b[i-int64(len(d.a))]
}

// isInteger reports whether d has no fractional part (1.0 and 1e2 are
// integers, as JSON Schema 2020-12 §6.1.1 says).
func (d decimal) isInteger() bool { return d.isZero() || d.exp >= 0 }

// cmp compares d and o exactly: -1, 0 or +1.
func (d decimal) cmp(o decimal) int {
	switch {
	case d.neg && !o.neg:
		return -1
	case !d.neg && o.neg:
		return 1
	}
	c := d.cmpAbs(o)
	if d.neg {
		return -c
	}
	return c
}

func (d decimal) cmpAbs(o decimal) int {
	dz, oz := d.isZero(), o.isZero()
	switch {
	case dz && oz:
		return 0
	case dz:
		return -1
	case oz:
		return 1
	}
	// The magnitude of the leading digit decides first.
	dm, om := d.nd()+d.exp, o.nd()+o.exp
	if dm != om {
		if dm < om {
			return -1
		}
		return 1
	}
	n, m := d.nd(), o.nd()
	for i := int64(0); i < n && i < m; i++ {
		if x, y := d.digit(i), o.digit(i); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	// Equal prefix: the one with more (non-zero, as trailing zeros are
	// trimmed) digits is larger.
	switch {
	case n < m:
		return -1
	case n > m:
		return 1
	}
	return 0
}

// multiple is a compiled multipleOf divisor: mant × 10^exp with mant free of
// trailing zeros.
type multiple struct {
	mant uint64
	exp  int64
}

// isMultiple reports whether d is an integer multiple of m, exactly. With
// d = dm×10^de and m = mm×10^me (neither mantissa ending in 0): if de < me,
// d/m has a factor 10^-(me-de) that dm cannot cancel since it does not end
// in 0, so only 0 qualifies; otherwise d/m is an integer iff
// dm×10^(de-me) ≡ 0 (mod mm), computed digit by digit with 128-bit
// products, so it is exact for any literal.
func (d decimal) isMultiple(m multiple) bool {
	if d.isZero() {
		return true
	}
	if d.exp < m.exp {
		return false
	}
	if m.mant == 1 {
		return true
	}
	var r uint64
	n := d.nd()
	for i := int64(0); i < n; i++ {
		r = mulMod(r, 10, m.mant)
		r = addMod(r, uint64(d.digit(i)-'0'), m.mant)
	}
	if r == 0 {
		return true
	}
	return mulMod(r, powMod(10, uint64(d.exp-m.exp), m.mant), m.mant) == 0
}

func mulMod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, rem := bits.Div64(hi%m, lo, m)
	return rem
}

func addMod(a, b, m uint64) uint64 {
	s, carry := bits.Add64(a%m, b%m, 0)
	if carry != 0 || s >= m {
		s -= m
	}
	return s
}

func powMod(base, e, m uint64) uint64 {
	r := uint64(1) % m
	base %= m
	for e > 0 {
		if e&1 == 1 {
			r = mulMod(r, base, m)
		}
		base = mulMod(base, base, m)
		e >>= 1
	}
	return r
}
