package forward

import "unsafe"

// b2s converts without copying; used only to parse bytes that outlive the
// call (netip.ParseAddr keeps nothing).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// s2b converts without copying; used only to compare a header name held
// in a string with bytes (the slice is never written).
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
