package rbac

import (
	"fmt"
	"strings"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Method bits. Standard methods (RFC 9110 §9) have fixed bits; custom
// methods named by the config get the next ones; every other method maps to
// bitOther, which only a "*" grant covers.
const (
	bitGET uint64 = 1 << iota
	bitHEAD
	bitPOST
	bitPUT
	bitPATCH
	bitDELETE
	bitOPTIONS
	bitCONNECT
	bitTRACE
	numStd = iota

	bitOther   uint64 = 1 << 63
	allMethods uint64 = ^uint64(0)
	maxCustom         = 63 - numStd
)

var stdMethods = [numStd]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// methodTable maps request methods to bits. It is filled at construction
// and read-only afterwards.
type methodTable struct {
	custom []string
}

// bit returns the bit of method m. It does not allocate.
func (t *methodTable) bit(m []byte) uint64 {
	switch string(m) {
	case "GET":
		return bitGET
	case "HEAD":
		return bitHEAD
	case "POST":
		return bitPOST
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
	for i, c := range t.custom {
		if c == string(m) {
			return 1 << (numStd + i)
		}
	}
	return bitOther
}

// add returns the bit of a method named in the config, assigning one to a
// new custom method. "*" stands for every method.
func (t *methodTable) add(m string) (uint64, error) {
	if m == "*" {
		return allMethods, nil
	}
	if !filters.IsToken(m) {
		return 0, fmt.Errorf("invalid method %q", m)
	}
	// Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET, and
	// writing it is almost certainly a mistake.
	if up := strings.ToUpper(m); up != m {
		for _, s := range stdMethods {
			if s == up {
				return 0, fmt.Errorf("method %q: method names are case-sensitive; write %q", m, up)
			}
		}
	}
	if b := t.bit([]byte(m)); b != bitOther {
		return b, nil
	}
	if len(t.custom) == maxCustom {
		return 0, fmt.Errorf("cannot add method %q: at most %d custom methods", m, maxCustom)
	}
	t.custom = append(t.custom, m)
	return 1 << (numStd + len(t.custom) - 1), nil
}

// names lists the methods of mask, for Rules.
func (t *methodTable) names(mask uint64) []string {
	if mask == allMethods {
		return []string{"*"}
	}
	var out []string
	for i, s := range stdMethods {
		if mask&(1<<i) != 0 {
			out = append(out, s)
		}
	}
	for i, c := range t.custom {
		if mask&(1<<(numStd+i)) != 0 {
			out = append(out, c)
		}
	}
	return out
}
