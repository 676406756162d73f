package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

func TestParseFlags(t *testing.T) {
	f := func(code int, args ...string) options {
		t.Helper()
		var stderr bytes.Buffer
		o, got := parseFlags(args, &stderr)
		if got != code {
			t.Fatalf("parseFlags(%q) code %d, want %d; stderr %s", args, got, code, stderr.String())
		}
		return o
	}
	o := f(-1, "--tollgate", "bin/tollgate")
	if o.Threads != 2 || o.Connections != 64 || o.Duration != 10*time.Second || o.Rounds != 2 || o.Upstream != "process" {
		t.Fatalf("defaults %+v", o)
	}
	if o.Command != "loadbench --tollgate bin/tollgate" {
		t.Fatalf("command %q", o.Command)
	}
	f(-1, "--upstream", "inproc", "--targets", "direct,nginx,haproxy,caddy")
	f(-1, "--tollgate", "x", "--command", "scripts/bench.sh --rounds 3", "--rounds", "3")
	f(0, "--help")
	f(2, "--bogus")
	f(2)                                                  // the upstream process needs the binary
	f(2, "--upstream", "inproc", "--targets", "tollgate") // so does the tollgate row
	f(2, "--tollgate", "x", "--rounds", "1")
	f(2, "--tollgate", "x", "--duration", "500ms")
	f(2, "--tollgate", "x", "--threads", "4", "--connections", "2")
	f(2, "--tollgate", "x", "--upstream", "docker")
	f(2, "--tollgate", "x", "--targets", "apache")
	f(2, "--tollgate", "x", "--warmup", "-1s")
	f(2, "--tollgate", "x", "extra")
}

// buildFake builds the stand-in tollgate binary from testdata.
func buildFake(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "tollgate")
	cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/faketollgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the stand-in binary: %v\n%s", err, out)
	}
	return bin
}

func needWrk(t *testing.T) {
	t.Helper()
	if _, err := lookBin("wrk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("wrk is not installed; .ci/run installs it (scripts/bench-deps.sh)")
		}
		t.Skip("SKIP: wrk is not installed (scripts/bench-deps.sh installs it); the harness is not driven end to end")
	}
}

// leftovers returns the command lines of live processes that mention dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	for i := 0; i < 40; i++ {
		left = left[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || len(b) == 0 {
				continue
			}
			cmdline := strings.ReplaceAll(string(b), "\x00", " ")
			if strings.Contains(cmdline, dir) {
				left = append(left, e.Name()+": "+cmdline)
			}
		}
		if len(left) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return left
}

// TestRunEndToEnd runs the harness for real, briefly: the stand-in
// tollgate binary serves the demo upstream and the tollgate row; nginx,
// HAProxy and Caddy rows run when installed and are skipped otherwise.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and drives them with wrk")
	}
	needWrk(t)
	bin := buildFake(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the work directory, hence every config path, is under tmp
	md := filepath.Join(tmp, "bench.md")
	o, code := parseFlags([]string{
		"--tollgate", bin, "--targets", "direct,tollgate,nginx,haproxy,caddy",
		"--duration", "1s", "--warmup", "0s", "--connections", "8", "--markdown", md,
	}, os.Stderr)
	if code != -1 {
		t.Fatalf("parseFlags: %d", code)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, o, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, name := range []string{"direct", "tollgate"} {
		if !strings.Contains(out, name+"  ") {
			t.Fatalf("table lacks %s:\n%s", name, out)
		}
	}
	if strings.Contains(out, "failed") {
		t.Fatalf("a target failed:\n%s\nstderr:\n%s", out, stderr.String())
	}
	for _, round := range []string{"round 1 direct", "round 2 direct", "round 1 tollgate", "round 2 tollgate"} {
		if !strings.Contains(stderr.String(), round) {
			t.Fatalf("stderr lacks %q:\n%s", round, stderr.String())
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| tollgate | ") || !strings.Contains(string(b), "; tollgate test build;") {
		t.Fatalf("markdown:\n%s", b)
	}
	if left := leftovers(t, tmp); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
	if left := leftovers(t, bin); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
}

// TestRunInterrupted cancels a run during a measured run: run must return
// promptly and leave no process behind.
func TestRunInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and drives them with wrk")
	}
	needWrk(t)
	bin := buildFake(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	o, code := parseFlags([]string{"--tollgate", bin, "--targets", "tollgate,nginx", "--duration", "30s", "--warmup", "0s", "--connections", "4"}, os.Stderr)
	if code != -1 {
		t.Fatalf("parseFlags: %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, &stdout, &stderr) }()
	time.Sleep(3 * time.Second)
	cancel()
	begin := time.Now()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("run = %v, want an interruption error\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if took := time.Since(begin); took > 15*time.Second {
		t.Fatalf("run took %v to stop", took)
	}
	if left := leftovers(t, tmp); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
	if left := leftovers(t, bin); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
}

// TestReadAuditUsage: a row with an audit log gets what it holds on disk,
// as the log's reader counts it; a row without one gets nothing, and no
// complaint.
func TestReadAuditUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	skey, _, err := auditlog.GenerateKey("tollgate.bench/usage")
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(auditlog.Options{Dir: dir, SigningKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e := auditlog.Entry{Start: time.Now().UnixNano(), Method: []byte("GET"), Path: []byte("/bench"), Status: uint16(200 + i)}
		if _, err := l.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := auditlog.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, err := r.Usage()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	var with, without row
	readAuditUsage(&with, dir, &stderr)
	readAuditUsage(&without, filepath.Join(t.TempDir(), "audit"), &stderr)
	if with.auditRecords != 5 || with.auditBytes != u.SealedBytes+u.ActiveBytes || with.auditBytes <= 0 {
		t.Fatalf("with a log: %d bytes, %d records; the reader counts %+v", with.auditBytes, with.auditRecords, u)
	}
	if without.auditRecords != 0 || without.auditBytes != 0 || stderr.Len() > 0 {
		t.Fatalf("without a log: %d bytes, %d records, stderr %q", without.auditBytes, without.auditRecords, stderr.String())
	}
}
