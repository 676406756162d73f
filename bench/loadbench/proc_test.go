package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	f := func(in string, ppid int, ticks uint64) {
		t.Helper()
		st, err := parseStat([]byte(in))
		if err != nil || st.ppid != ppid || st.ticks != ticks {
			t.Fatalf("parseStat(%q) = %+v, %v; want ppid %d ticks %d", in, st, err, ppid, ticks)
		}
	}
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
	f("1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 200", 1, 325)
	f("77 (a b) c)) R 42 77 77 0 -1 0 0 0 0 0 3 4 0 0", 42, 7)
	f("9 (x) S 8 9 9 0 -1 0 0 0 0 0 0 0", 8, 0)

	bad := func(in string) {
		t.Helper()
		if st, err := parseStat([]byte(in)); err == nil {
			t.Fatalf("parseStat(%q) = %+v, want an error", in, st)
		}
	}
	bad("")
	bad("1234 nginx S 1")
	bad("1 (x) S 1 2 3")
	bad("1 (x) S one 1 1 0 -1 0 0 0 0 0 1 1")
	bad("1 (x) S 1 1 1 0 -1 0 0 0 0 0 -1 1")
}

func TestParseHWM(t *testing.T) {
	f := func(in string, want uint64, ok bool) {
		t.Helper()
		got, err := parseHWM([]byte(in))
		if (err == nil) != ok || got != want {
			t.Fatalf("parseHWM(%q) = %d, %v; want %d (ok %v)", in, got, err, want, ok)
		}
	}
	f("Name:\tnginx\nVmPeak:\t  1000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n", 2048<<10, true)
	f("Name:\tx\n", 0, false)
	f("VmHWM:\t12 MB\n", 0, false)
	f("VmHWM:\tlots kB\n", 0, false)

	if got, err := parseRSS([]byte("Name:\tnginx\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n")); err != nil || got != 1024<<10 {
		t.Fatalf("parseRSS = %d, %v", got, err)
	}
	if _, err := parseRSS([]byte("VmHWM:\t2048 kB\n")); err == nil {
		t.Fatal("parseRSS without a VmRSS line succeeded")
	}
}

func TestReadTree(t *testing.T) {
	// A shell with two children: the tree has at least three processes.
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	tick := clockTick()
	deadline := time.Now().Add(5 * time.Second)
	var u treeUsage
	for {
		var err error
		u, err = readTree(cmd.Process.Pid, tick)
		if err != nil {
			t.Fatal(err)
		}
		if u.procs >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u.procs != 3 || u.hwm == 0 || u.rss == 0 || u.rss > u.hwm || u.cpu < 0 {
		t.Fatalf("readTree = %+v, want 3 processes with some memory", u)
	}
	if _, err := readTree(1<<30, tick); err == nil {
		t.Fatal("readTree of a missing pid succeeded")
	}
}

func TestSelfCPU(t *testing.T) {
	tick := clockTick()
	before, err := selfCPU(tick)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU, bounded in time, until the counter moves.
	deadline := time.Now().Add(3 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		if after, _ := selfCPU(tick); after > before {
			return
		}
	}
	t.Fatalf("own CPU time did not grow in 3s of work (%d)", x)
}

func TestProcStopKillsGroup(t *testing.T) {
	dir := t.TempDir()
	// The shell ignores SIGTERM, so stop must escalate to SIGKILL; its
	// child must go with it.
	p, err := startProc("stubborn", dir, nil, "sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60")
	if err != nil {
		t.Skipf("cannot start sh: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	pgid := p.pid()
	begin := time.Now()
	p.stop()
	if took := time.Since(begin); took > stopGrace+2*time.Second {
		t.Fatalf("stop took %v", took)
	}
	if p.running() {
		t.Fatal("still running after stop")
	}
	if left := groupMembers(t, pgid); len(left) > 0 {
		t.Fatalf("processes left in group %d: %v", pgid, left)
	}
	p.stop() // idempotent
}

// groupMembers returns the live pids of process group pgid, waiting up to
// a second for the kernel to reap killed processes.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	var left []string
	for i := 0; i < 20; i++ {
		left = left[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			j := strings.LastIndexByte(s, ')')
			if j < 0 {
				continue
			}
			f := strings.Fields(s[j+1:])
			if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
				left = append(left, e.Name())
			}
		}
		if len(left) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return left
}
