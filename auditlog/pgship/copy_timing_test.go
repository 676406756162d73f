package pgship

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func copyTestRecord() (leaf []byte, rec auditlog.Record) {
	return bytes.Repeat([]byte{0xa5}, 180), auditlog.Record{Kind: auditlog.KindCompletion,
		Start: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano(), Duration: 1500, RequestID: []byte("0123456789abcdef"),
		AuthMethod: []byte("jwt"), Method: []byte("GET"), Route: []byte("/v1/orders/{id}"), Path: []byte("/v1/orders/12345"),
		Status: 200, Decision: auditlog.DecisionAllowed, Revealed: true, HasPrincipal: true, Principal: []byte("user-1"),
		HasClientIP: true, ClientIP: netip.MustParseAddr("10.0.3.4")}
}

// BenchmarkCopyBatchAdd is the shipper's encoding of one record into the
// batch's binary COPY buffer.
func BenchmarkCopyBatchAdd(b *testing.B) {
	leaf, rec := copyTestRecord()
	var c copyBatch
	c.reset()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2048 == 0 {
			c.reset()
		}
		c.add("audit.test/a", uint64(i), leaf, &rec)
		i++
	}
}
