package filters

import (
	"fmt"
	"strings"
)

// Method bits. The router (which methods a route serves) and RBAC (which
// methods a grant covers) both test a request's method against sets of
// methods many times per request, so a method is a bit in a uint64 and a
// set is a mask. Standard methods (RFC 9110 §9 plus PATCH, RFC 5789) have
// fixed bits, in the order an Allow header lists them; custom methods named
// by the config get the next bits; bit 63 is left for a caller's "any
// other method" (MethodOther).
const (
	MethodGET uint64 = 1 << iota
	MethodHEAD
	MethodPOST
	MethodPUT
	MethodPATCH
	MethodDELETE
	MethodOPTIONS
	MethodCONNECT
	MethodTRACE
	// NumStdMethods is how many standard methods have fixed bits.
	NumStdMethods = iota

	// MethodOther is free for a caller to stand for every method a table
	// does not know.
	MethodOther uint64 = 1 << 63
	// MaxCustomMethods bounds the custom methods of one table.
	MaxCustomMethods = 63 - NumStdMethods
)

var stdMethods = [NumStdMethods]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// MethodTable maps method tokens to bits. It is filled while a config is
// compiled and read-only afterwards, so lookups need no lock.
type MethodTable struct {
	custom []string // custom[i] has bit 1<<(NumStdMethods+i)
}

// Bit returns the method's bit, or 0 for a method the table does not know.
// It does not allocate.
func (t *MethodTable) Bit(m []byte) uint64 {
	// switch on string(m) does not allocate.
	switch string(m) {
	case "GET":
		return MethodGET
	case "POST":
		return MethodPOST
	case "HEAD":
		return MethodHEAD
	case "PUT":
		return MethodPUT
	case "PATCH":
		return MethodPATCH
	case "DELETE":
		return MethodDELETE
	case "OPTIONS":
		return MethodOPTIONS
	case "CONNECT":
		return MethodCONNECT
	case "TRACE":
		return MethodTRACE
	}
	for i, c := range t.custom {
		if c == string(m) {
			return 1 << (NumStdMethods + i)
		}
	}
	return 0
}

// Add returns the bit of a method named in the config, giving a new custom
// method the next free bit. It refuses what is not a method token, a
// standard method in the wrong case (methods are case-sensitive, RFC 9110
// §9.1: "get" would never match a GET), and more than MaxCustomMethods
// custom methods.
func (t *MethodTable) Add(m string) (uint64, error) {
	if !IsToken(m) {
		return 0, fmt.Errorf("invalid method %q", m)
	}
	if up := strings.ToUpper(m); up != m {
		for _, s := range stdMethods {
			if s == up {
				return 0, fmt.Errorf("method %q: method names are case-sensitive; write %q", m, up)
			}
		}
	}
	if b := t.Bit([]byte(m)); b != 0 {
		return b, nil
	}
	if len(t.custom) == MaxCustomMethods {
		return 0, fmt.Errorf("cannot add method %q: at most %d distinct custom methods", m, MaxCustomMethods)
	}
	t.custom = append(t.custom, m)
	return 1 << (NumStdMethods + len(t.custom) - 1), nil
}

// name returns the method of bit i, or "" if none.
func (t *MethodTable) name(i int) string {
	switch {
	case i < NumStdMethods:
		return stdMethods[i]
	case i-NumStdMethods < len(t.custom):
		return t.custom[i-NumStdMethods]
	}
	return ""
}

// AppendNames appends the methods of mask, in bit order, separated by sep
// (an Allow header value, RFC 9110 §10.2.1, with ", ").
func (t *MethodTable) AppendNames(dst []byte, mask uint64, sep string) []byte {
	first := true
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		name := t.name(i)
		if name == "" {
			continue
		}
		if !first {
			dst = append(dst, sep...)
		}
		first = false
		dst = append(dst, name...)
	}
	return dst
}

// Names lists the methods of mask in bit order.
func (t *MethodTable) Names(mask uint64) []string {
	var out []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) != 0 {
			if name := t.name(i); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}
