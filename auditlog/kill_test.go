package auditlog

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const killChildEnv = "TOLLGATE_AUDIT_KILL_CHILD"

// TestKillChild is the writer child of TestKill9: it appends under load
// from several goroutines and prints "index requestID" for every
// acknowledged record until it is killed.
func TestKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("child process of TestKill9")
	}
	dir, run, _ := strings.Cut(spec, ",")
	o := testOptions(t, dir)
	o.QueueSize = 4096
	o.CheckpointInterval = 10 * time.Millisecond
	o.CheckpointEvery = 500
	o.FsyncInterval = 5 * time.Millisecond
	l, err := Open(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e Entry
			for i := 0; i < 1_000_000; i++ {
				testEntry(&e, i)
				e.RequestID = fmt.Appendf(e.RequestID[:0], "r%s-g%d-%d", run, g, i)
				idx, err := l.Append(&e)
				if err == ErrQueueFull {
					continue
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "%d %s\n", idx, e.RequestID)
				if i%16 == 0 {
					out.Flush()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKill9 re-executes the test binary as a writer, kills it with SIGKILL
// at random points several times, and checks after each kill that every
// acknowledged record is present at its index and that the log, reopened
// as a restarted proxy would, verifies (every checkpoint root recomputed
// from the records).
func TestKill9(t *testing.T) {
	if os.Getenv(killChildEnv) != "" {
		t.Skip()
	}
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	dir := t.TempDir()
	_, vkey := testKeys(t)
	skey, _ := testKeys(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir+","+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		// The child must use the same signing key as the parent checks with.
		cmd.Env = append(cmd.Env, "TOLLGATE_AUDIT_TEST_SKEY="+skey)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[uint64]string{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				idx, id, ok := strings.Cut(sc.Text(), " ")
				if n, err := strconv.ParseUint(idx, 10, 64); ok && err == nil {
					acked[n] = id
				}
			}
		}()
		time.Sleep(time.Duration(150+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		cmd.Wait()
		if len(acked) == 0 {
			t.Fatalf("round %d: child acknowledged nothing: %s", round, stderr.String())
		}
		// A kill can cut the last pwrite short (Linux stops copying pages
		// once SIGKILL is pending), leaving a torn tail that no caller was
		// told about. Reopening, as a restarted proxy does, truncates it;
		// then every checkpoint root recomputes from the records.
		l, err := Open(testOptions(t, dir))
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(VerifyOptions{Dir: dir, VerifierKey: vkey}); err != nil {
			t.Fatalf("round %d: verify after kill: %v", round, err)
		}
		r, err := OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		for idx, id := range acked {
			_, rec, err := r.Record(idx)
			if err != nil || string(rec.RequestID) != id {
				r.Close()
				t.Fatalf("round %d: acknowledged record %d (%s) missing: %q %v", round, idx, id, rec.RequestID, err)
			}
		}
		r.Close()
		t.Logf("round %d: %d acknowledged records present", round, len(acked))
	}
}
