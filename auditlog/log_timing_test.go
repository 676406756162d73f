package auditlog

import (
	"bytes"
	"compress/gzip"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var benchSink uint64

// BenchmarkAppend measures the whole write path per record: encode, salted
// commitments, side encryption, leaf hash, sequencing, tree, compression and
// write(2), with concurrent callers as the engine has them: 32 per core, as
// many as the load harness keeps requests in flight.
func BenchmarkAppend(b *testing.B) {
	for _, d := range []Durability{DurabilityAsync, DurabilityProcess} {
		b.Run(d.String(), func(b *testing.B) {
			dir := b.TempDir()
			o := testOptions(b, dir)
			o.Durability = d
			o.QueueSize = 65536
			o.SegmentMaxBytes = 256 << 20
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			var ctr atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				var e Entry
				testEntry(&e, int(ctr.Add(1)))
				for pb.Next() {
					i := ctr.Add(1)
					varyEntry(&e, i)
					for {
						_, err := l.Append(&e)
						if err == ErrQueueFull {
							runtime.Gosched()
							continue
						}
						if err != nil {
							b.Error(err)
							return
						}
						break
					}
				}
			})
			st := l.Stats()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			// Per CPU-second as well: on a shared machine the wall-clock
			// rate follows whatever else runs, and the CPU rate less so.
			reportAppendMetrics(b, cpu, st)
		})
	}
}

// varyEntry makes e record i of a benchmark: its time, request ID, client
// address and size differ from the record before, as in real traffic.
func varyEntry(e *Entry, i int64) {
	e.Start = testStart + i*1000
	e.RequestID = strconv.AppendInt(e.RequestID[:0], i*0x9e3779b97f4a7c, 16)
	e.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	e.BytesOut = uint64(i % 7919)
}

// BenchmarkQueueCommit is the write path as the event-loop engine drives
// it: one caller per core, like a loop per core, queues the records of a
// turn with QueueFunc and commits them with Commit. In process mode a
// record counts once its acknowledgement has run, as a loop releases a
// held response only then; no caller ever blocks, so no goroutine is
// parked and woken per record as with Append.
func BenchmarkQueueCommit(b *testing.B) {
	for _, turn := range []int{1, 16} {
		b.Run("process/turn="+strconv.Itoa(turn), func(b *testing.B) {
			o := testOptions(b, b.TempDir())
			o.QueueSize = 65536
			o.SegmentMaxBytes = 256 << 20
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			var ctr, acked atomic.Int64
			var failed atomic.Value
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				var e Entry
				testEntry(&e, int(ctr.Add(1)))
				done := func(_ uint64, err error) {
					if err != nil {
						failed.Store(err)
					}
					acked.Add(1)
				}
				queued := 0
				for pb.Next() {
					i := ctr.Add(1)
					varyEntry(&e, i)
					for {
						err := l.QueueFunc(&e, done)
						if err == ErrQueueFull {
							l.Commit()
							runtime.Gosched()
							continue
						}
						if err != nil {
							b.Error(err)
							return
						}
						break
					}
					if queued++; queued == turn {
						l.Commit()
						queued = 0
					}
				}
				l.Commit()
			})
			st := l.Stats()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			if n := acked.Load(); n != int64(b.N) {
				b.Fatalf("%d of %d records acknowledged", n, b.N)
			}
			reportAppendMetrics(b, cpu, st)
		})
	}
}

// BenchmarkAppendSerial is one caller appending in a loop (a group per record
// in process mode: the low-load worst case).
func BenchmarkAppendSerial(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(testOptions(b, dir))
	if err != nil {
		b.Fatal(err)
	}
	var e Entry
	testEntry(&e, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx, err := l.Append(&e)
		if err != nil {
			b.Fatal(err)
		}
		benchSink += idx
	}
	b.StopTimer()
	l.Close()
}

// benchSaltKeys returns the keys of e's salt period, from a salt store in
// a directory of the benchmark's own.
func benchSaltKeys(b *testing.B, e *Entry) *saltKeys {
	dir := b.TempDir()
	ss := newSaltStore(dir, int64(DefaultSaltPeriod), true)
	if err := mkdirs(dir); err != nil {
		b.Fatal(err)
	}
	k, err := ss.get(ss.epochOf(e.Start))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkEncode is the caller-side share of Append: commitments, leaf,
// leaf hash and encrypted side data.
func BenchmarkEncode(b *testing.B) {
	var e Entry
	testEntry(&e, 7)
	k := benchSaltKeys(b, &e)
	s := &slot{sealer: newSealer(), done: make(chan struct{}, 1)}
	b.ReportAllocs()
	// The loop runs on one OS thread whose own CPU time is reported: time
	// other processes take from the core does not count, which on a shared
	// machine keeps the figure within a few per cent between runs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0 := threadCPUTime()
	for i := 0; i < b.N; i++ {
		s.encode(&e, k)
	}
	b.ReportMetric(float64((threadCPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	benchSink += uint64(len(s.rec))
}

// BenchmarkRecordFloor is the least a record costs in the log: what every
// record needs whoever runs it (encode with its commitments, leaf hash and
// side encryption; the tree's node hashes; its share of an S2 block of
// `group` records), on one thread with hot caches, with no queue, no
// write(2), no hand-off and no wake-up. It is the floor under
// BenchmarkAppend's CPU per record and under the proxy's extra CPU per
// request with the log on; group 11 is the proxy's group under the load
// harness, 40 BenchmarkAppend's.
func BenchmarkRecordFloor(b *testing.B) {
	for _, group := range []int{11, 40} {
		b.Run("group="+strconv.Itoa(group), func(b *testing.B) {
			codec, err := newBlockCodec()
			if err != nil {
				b.Fatal(err)
			}
			defer codec.close()
			var e Entry
			testEntry(&e, 7)
			k := benchSaltKeys(b, &e)
			s := newSlot()
			var rng compactRange
			raw := make([]byte, 0, 64<<10)
			out := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu0 := threadCPUTime()
			for i := 0; i < b.N; i++ {
				e.Start = testStart + int64(i)*1000
				e.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				s.encode(&e, k)
				if err := rng.appendLeaf(s.leafHash); err != nil {
					b.Fatal(err)
				}
				raw = append(raw, s.rec...)
				if i%group == group-1 {
					out = codec.appendBlock(out[:0], raw, uint64(i+1-group), group, e.Start, e.Start)
					raw = raw[:0]
				}
			}
			b.ReportMetric(float64((threadCPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/record")
			benchSink += uint64(len(out))
		})
	}
}

// threadCPUTime returns the CPU time of the calling OS thread.
func threadCPUTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDiskBytes reports bytes per record on disk, in sealed (compacted)
// segments and in the active one, against NDJSON and NDJSON+gzip of the
// same records.
func BenchmarkDiskBytes(b *testing.B) {
	const n = 50000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		writeLog(b, dir, n, func(o *Options) { o.Durability = DurabilityAsync; o.QueueSize = n })
		r, err := OpenReader(dir)
		if err != nil {
			b.Fatal(err)
		}
		// Sealed segments are compacted (full zstd blocks); the active one
		// holds the writer's blocks (S2, cut per group).
		var sealedBytes, activeBytes, sealedRecords int64
		nblocks := 0
		var js []byte
		for si := range r.set.segs {
			refs, _ := r.set.blocksOf(si)
			for _, ref := range refs {
				if si < len(r.set.segs)-1 {
					sealedBytes += ref.h.size()
					sealedRecords += int64(ref.h.count)
				} else {
					activeBytes += ref.h.size()
				}
				nblocks++
			}
		}
		r.Scan(&Filter{}, func(idx uint64, rec *Record) error {
			js = rec.AppendJSON(js, idx)
			js = append(js, '\n')
			return nil
		})
		r.Close()
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
		w.Write(js)
		w.Close()
		b.ReportMetric(float64(sealedBytes)/float64(sealedRecords), "sealed-B/record")
		b.ReportMetric(float64(activeBytes)/float64(n-sealedRecords), "active-B/record")
		b.ReportMetric(float64(len(js))/n, "ndjson-B/record")
		b.ReportMetric(float64(gz.Len())/n, "ndjson-gzip-B/record")
		b.ReportMetric(float64(nblocks), "blocks")
	}
}

// BenchmarkVerify measures offline verification throughput.
func BenchmarkVerify(b *testing.B) {
	const n = 100000
	dir := b.TempDir()
	writeLog(b, dir, n, func(o *Options) { o.Durability = DurabilityAsync; o.QueueSize = n })
	_, vkey := testKeys(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// reportAppendMetrics reports the rates of an append benchmark: records per
// wall-clock and per CPU-second, the process's CPU time per record (the
// figure to compare on a shared machine; benchstat reads it) and the mean
// group size, which says how far the group commit amortized the write and
// the block header.
func reportAppendMetrics(b *testing.B, cpu time.Duration, st Stats) {
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
	if st.Groups > 0 {
		b.ReportMetric(float64(st.Appended)/float64(st.Groups), "records/group")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendOneCore runs the whole pipeline (caller encode, sequencer,
// tree, zstd, write(2)) on one core (GOMAXPROCS=1, one caller) and reports
// records per CPU-second of the process, which stays meaningful on a shared
// machine where wall-clock rates do not.
func BenchmarkAppendOneCore(b *testing.B) {
	for _, d := range []Durability{DurabilityAsync, DurabilityProcess} {
		b.Run(d.String(), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			o := testOptions(b, b.TempDir())
			o.Durability = d
			o.QueueSize = 8192
			o.SegmentMaxBytes = 512 << 20
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			var e Entry
			testEntry(&e, 1)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				varyEntry(&e, int64(i))
				for {
					_, err := l.Append(&e)
					if err == ErrQueueFull {
						runtime.Gosched()
						continue
					}
					if err != nil {
						b.Fatal(err)
					}
					break
				}
			}
			st := l.Stats()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			reportAppendMetrics(b, cpu, st)
		})
	}
}
