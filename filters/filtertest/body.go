package filtertest

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// Gzip returns b compressed with gzip, as a client sends a body with
// Content-Encoding: gzip; it fails the test if compression fails. Filter
// tests and end-to-end tests of decoding routes share it.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
