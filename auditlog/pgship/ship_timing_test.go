package pgship

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// BenchmarkShip measures shipping throughput: a log of 20,000 records
// copied into an empty database by one shipper (read, decode, COPY into
// the staging table, INSERT … ON CONFLICT, commit), reported as records
// per second of wall time and as the shipper process's CPU time per
// record (user+system from getrusage: the figure to compare on a shared
// machine; PostgreSQL's CPU is its own process's). The database runs on the same machine with
// fsync off, so this is the shipper's side of the cost, not a disk's.
func BenchmarkShip(b *testing.B) {
	pg := testpg.New(b)
	tl := newBenchLog(b, "audit.bench/ship", 20000)
	b.ReportAllocs()
	i := 0
	var elapsed, cpu time.Duration
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
		start, cpu0 := time.Now(), processCPU()
		if err := s.ship(true); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - cpu0
		elapsed += time.Since(start)
		b.StopTimer()
		if s.Shipped() != 20000 {
			b.Fatalf("shipped %d", s.Shipped())
		}
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(20000*i)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(20000*i), "cpu-ns/record")
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
