package filters

import "unsafe"

// b2s converts a byte slice to a string without copying. It is used only to
// pass request bytes to functions that read but never keep the string.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// S2B converts a string to a byte slice without copying. The result must
// never be written to.
func S2B(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// B2S converts a byte slice to a string without copying. The string must not
// outlive the bytes (for exchange fields: the exchange's release).
func B2S(b []byte) string { return b2s(b) }
