package router

import (
	"fmt"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Bits of the standard methods (RFC 9110 §9 plus PATCH, RFC 5789), in the
// order they are listed in an Allow header.
const (
	bitGET = 1 << iota
	bitHEAD
	bitPOST
	bitPUT
	bitPATCH
	bitDELETE
	bitOPTIONS
	bitCONNECT
	bitTRACE
	numStd = iota
)

// stdMethods lists the standard methods in bit order.
var stdMethods = [numStd]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// maxCustomMethods bounds the distinct non-standard method tokens over all
// routes, so every method has a bit in a uint64.
const maxCustomMethods = 64 - numStd

// methodTable maps method tokens to bits. Standard methods have fixed bits;
// other tokens get the next free bit in the order routes name them.
type methodTable struct {
	custom []string // custom[i] has bit 1<<(numStd+i)
}

// bit returns the method's bit, or 0 for a method no route names. It does
// not allocate.
func (t *methodTable) bit(m []byte) uint64 {
	// Fast path: standard methods; switch on string(m) does not allocate.
	switch string(m) {
	case "GET":
		return bitGET
	case "POST":
		return bitPOST
	case "HEAD":
		return bitHEAD
	case "PUT":
		return bitPUT
	case "PATCH":
		return bitPATCH
	case "DELETE":
		return bitDELETE
	case "OPTIONS":
		return bitOPTIONS
	case "CONNECT":
		return bitCONNECT
	case "TRACE":
		return bitTRACE
	}
	return t.customBit(m)
}

// customBit is the slow path of bit, for non-standard tokens.
func (t *methodTable) customBit(m []byte) uint64 {
	for i, c := range t.custom {
		if c == string(m) {
			return 1 << (numStd + i)
		}
	}
	return 0
}

// add returns the bit of method m, assigning one to a new custom token.
func (t *methodTable) add(m string) (uint64, error) {
	if !filters.IsToken(m) {
		return 0, fmt.Errorf("invalid method %q", m)
	}
	if b := t.bit([]byte(m)); b != 0 {
		return b, nil
	}
	if len(t.custom) == maxCustomMethods {
		return 0, fmt.Errorf("more than %d distinct custom methods", maxCustomMethods)
	}
	t.custom = append(t.custom, m)
	return 1 << (numStd + len(t.custom) - 1), nil
}

// appendAllow appends the Allow header value (RFC 9110 §10.2.1) for mask.
func (t *methodTable) appendAllow(dst []byte, mask uint64) []byte {
	first := true
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		var name string
		switch {
		case i < numStd:
			name = stdMethods[i]
		case i-numStd < len(t.custom):
			name = t.custom[i-numStd]
		default:
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, name...)
	}
	return dst
}
