package forward

import "unsafe"

// b2s converts without copying; used only to parse bytes that outlive the
// call (netip.ParseAddr keeps nothing).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
