package pgship

import (
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// BenchmarkShip measures shipping throughput: a log of 20,000 records
// copied into an empty database by one shipper (read, decode, COPY into
// the staging table, INSERT … ON CONFLICT, commit), reported as records
// per second of wall time. The database runs on the same machine with
// fsync off, so this is the shipper's side of the cost, not a disk's.
func BenchmarkShip(b *testing.B) {
	pg := testpg.New(b)
	tl := newBenchLog(b, "audit.bench/ship", 20000)
	b.ReportAllocs()
	i := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		url := dbURL(b, pg, "b"+strconv.Itoa(i), "")
		i++
		s, err := New(Options{URL: url, Dir: tl.dir, Origin: tl.origin})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.connect(); err != nil {
			b.Fatal(err)
		}
		s.measure()
		b.StartTimer()
		start := time.Now()
		if err := s.ship(true); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if s.Shipped() != 20000 {
			b.Fatalf("shipped %d", s.Shipped())
		}
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(20000*i)/elapsed.Seconds(), "records/s")
}
