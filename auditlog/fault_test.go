package auditlog

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wrapSegments makes o open segment files through wrap, and every other
// file as it is.
func wrapSegments(o *Options, wrap func(file) file) {
	o.openFile = func(name string, flag int, perm os.FileMode) (file, error) {
		f, err := openOSFile(name, flag, perm)
		if err != nil || !strings.HasSuffix(name, segSuffix) {
			return f, err
		}
		return wrap(f), nil
	}
}

// faultFile fails writes, syncs and allocations while *fail is set, as a
// full or failing disk would.
type faultFile struct {
	file
	fail *atomic.Bool
}

func (f faultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fail.Load() {
		// Half the bytes reach the file, as in a short write on ENOSPC.
		n, _ := f.file.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.file.WriteAt(p, off)
}

func (f faultFile) Datasync() error {
	if f.fail.Load() {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.file.Datasync()
}

func (f faultFile) Allocate(size int64) error {
	if f.fail.Load() {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.file.Allocate(size)
}

// TestIOErrorFailClosed: while the disk fails, Append returns
// ErrUnavailable and Healthy is false; once it works again the log
// recovers on its own, and every acknowledged record is in a log that
// verifies, exactly once.
func TestIOErrorFailClosed(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityDisk} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			var fail atomic.Bool
			o := testOptions(t, dir)
			o.Durability = d
			wrapSegments(&o, func(f file) file { return faultFile{f, &fail} })
			l, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			var e Entry
			acked := map[string]bool{}
			next := 0
			appendOne := func() error {
				testEntry(&e, next)
				next++
				_, err := l.Append(&e)
				if err == nil {
					acked[string(e.RequestID)] = true
				}
				return err
			}
			for i := 0; i < 50; i++ {
				if err := appendOne(); err != nil {
					t.Fatal(err)
				}
			}
			fail.Store(true)
			err = appendOne()
			if !errors.Is(err, ErrUnavailable) || l.Healthy() {
				t.Fatalf("while failing: err %v healthy %v", err, l.Healthy())
			}
			for i := 0; i < 5; i++ {
				if err := appendOne(); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("while failing: %v", err)
				}
			}
			fail.Store(false)
			deadline := time.Now().Add(10 * time.Second)
			for !l.Healthy() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if !l.Healthy() {
				t.Fatal("did not recover")
			}
			for i := 0; i < 50; i++ {
				if err := appendOne(); err != nil {
					t.Fatalf("after recovery: %v", err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			_, vkey := testKeys(t)
			if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
				t.Fatal(err)
			}
			r, _ := OpenReader(dir)
			defer r.Close()
			seen := map[string]int{}
			r.Scan(&Filter{}, func(_ uint64, rec *Record) error { seen[string(rec.RequestID)]++; return nil })
			for id := range acked {
				if seen[id] != 1 {
					t.Fatalf("acknowledged record %s seen %d times", id, seen[id])
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("record %s appears %d times", id, n)
				}
			}
			if st := l.Stats(); st.Failures == 0 || st.Recoveries == 0 {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
}

// TestLowSpaceFailsClosed: below MinFreeBytes the log reports unhealthy and
// refuses appends before the disk is full; it resumes when space returns.
func TestLowSpaceFailsClosed(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 20)
	o := testOptions(t, t.TempDir())
	o.MinFreeBytes = 10 << 20
	o.FsyncInterval = 10 * time.Millisecond
	o.freeSpace = func(string) (int64, error) { return free.Load(), nil }
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var e Entry
	testEntry(&e, 0)
	if _, err := l.Append(&e); !errors.Is(err, ErrUnavailable) || l.Healthy() {
		t.Fatalf("low space: err %v healthy %v", err, l.Healthy())
	}
	free.Store(1 << 30)
	deadline := time.Now().Add(5 * time.Second)
	for !l.Healthy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := l.Append(&e); err != nil || !l.Healthy() {
		t.Fatalf("after space returned: %v", err)
	}
}

// syncFailFile fails one fdatasync when *failNext is set, and only that one.
type syncFailFile struct {
	file
	failNext *atomic.Bool
}

func (f syncFailFile) Datasync() error {
	if f.failNext.CompareAndSwap(true, false) {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.file.Datasync()
}

// TestRecoveredRecordsAreCounted: when a group's fdatasync fails but
// recovery finds its records on disk, they are acknowledged as appended,
// and the Appended count says so.
func TestRecoveredRecordsAreCounted(t *testing.T) {
	dir := t.TempDir()
	var failNext atomic.Bool
	o := testOptions(t, dir)
	o.Durability = DurabilityDisk
	wrapSegments(&o, func(f file) file { return syncFailFile{f, &failNext} })
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var e Entry
	for i := range 10 {
		testEntry(&e, i)
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	failNext.Store(true)
	testEntry(&e, 10)
	idx, err := l.Append(&e)
	if err != nil {
		t.Fatalf("record found on disk after a failed sync: %v", err)
	}
	if failNext.Load() {
		t.Fatal("the sync that was to fail never ran")
	}
	st := l.Stats()
	if idx != 10 || st.Recoveries == 0 || st.Appended != 11 {
		t.Fatalf("index %d, recoveries %d, appended %d; want 10, ≥1, 11", idx, st.Recoveries, st.Appended)
	}
}
