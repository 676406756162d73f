package ratelimit

import (
	"sync/atomic"
	"unsafe"
)

// alignOffset returns the index of the first word of w that starts a
// 64-byte cache line, so each 8-word bucket is read with one line fill.
// It only reads the address; nothing is converted back to a pointer.
func alignOffset(w []atomic.Uint64) int {
	addr := uintptr(unsafe.Pointer(&w[0]))
	return int((cacheLine-addr%cacheLine)%cacheLine) / 8
}
