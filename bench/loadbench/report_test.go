package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	f := func(want float64, xs ...float64) {
		t.Helper()
		if got := median(xs); got != want {
			t.Fatalf("median(%v) = %v, want %v", xs, got, want)
		}
	}
	f(0)
	f(3, 3)
	f(2, 3, 1)
	f(2.5, 4, 1, 2, 3)
	f(5, 9, 5, 1)
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 {
		t.Fatal("median sorted its argument")
	}
}

func TestFormat(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	f(fmtLatency(812), "812µs")
	f(fmtLatency(1500), "1.50ms")
	f(fmtLatency(2.5e6), "2.50s")
	f(fmtCPU(-1), "-")
	f(fmtCPU(12.34), "12.3µs")
	f(ratio(3, 2, true), "1.50")
	f(ratio(3, 2, false), "-")
	f(ratio(3, 0, true), "-")
	f(ratio(-1, 2, true), "-")
	f(firstVersionLine("nginx", "nginx version: nginx/1.22.1\n"), "nginx/1.22.1")
	f(firstVersionLine("HAProxy", "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: x"), "HAProxy 2.6.12-1+deb12u4")
	f(firstVersionLine("Caddy", "2.6.2\n"), "Caddy 2.6.2")
	f(firstVersionLine("Caddy", "v2.8.4 h1:q3pe0wpBj1OcHFZ3n/1nl4V4bxBrYoSoab7rL9BMYNk=\n"), "Caddy v2.8.4")
	f(firstVersionLine("wrk", "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk <options> <url>"), "wrk debian/4.1.0-3+b2 [epoll]")
	f(firstVersionLine("Tollgate", "flag provided but not defined: -version\n"), "Tollgate (unknown version)")
	f(firstVersionLine("Tollgate", ""), "Tollgate (unknown version)")
	f(cpuModel([]byte("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags: x\n")), "AMD EPYC 7B13")
	f(cpuModel([]byte("processor\t: 0\n")), "unknown CPU")
}

func fakeRun(rps, p50, p99 float64, proxyCPU, upCPU time.Duration) runResult {
	reqs := int64(rps * 10)
	return runResult{
		wrk:      wrkResult{Requests: reqs, DurationUS: 10e6, P50: p50, P99: p99},
		proxyCPU: proxyCPU,
		upCPU:    upCPU,
	}
}

func testReport() *report {
	return &report{
		opts: options{Threads: 2, Connections: 64, Duration: 10 * time.Second, Warmup: time.Second, Rounds: 2, Upstream: "process", Command: "scripts/bench.sh"},
		rows: []*row{
			{target: target{Name: "direct", Kind: kindDirect, Peer: "direct"}, runs: []runResult{
				fakeRun(100000, 500, 2000, -1, time.Second), fakeRun(80000, 700, 3000, -1, time.Second)}},
			{target: target{Name: "tollgate", Kind: kindTollgate}, rss: 20 << 20, runs: []runResult{
				fakeRun(45000, 1000, 4000, 4500*time.Millisecond, time.Second), fakeRun(45000, 1000, 4000, 4500*time.Millisecond, time.Second)}},
			{target: target{Name: "nginx", Kind: kindNginx, Peer: "nginx"}, rss: 10 << 20, runs: []runResult{
				fakeRun(50000, 900, 5000, 10*time.Second, time.Second), fakeRun(40000, 1100, 3000, 8*time.Second, time.Second)}},
			{target: target{Name: "haproxy-full-get", Kind: kindHAProxy, Peer: "haproxy-full"}, runs: []runResult{
				fakeRun(30000, 1000, 8000, 9*time.Second, time.Second), fakeRun(30000, 1000, 8000, 9*time.Second, time.Second)}},
			// The POST rows: compared with the POST peers only.
			{target: target{Name: "tollgate-post", Kind: kindTollgate, Request: orderRequest}, runs: []runResult{
				fakeRun(20000, 1000, 6000, 4*time.Second, time.Second), fakeRun(20000, 1000, 6000, 4*time.Second, time.Second)}},
			{target: target{Name: "nginx-post", Kind: kindNginx, Request: orderRequest, Peer: "nginx"}, runs: []runResult{
				fakeRun(25000, 900, 4000, 4*time.Second, time.Second), fakeRun(25000, 900, 4000, 4*time.Second, time.Second)}},
			{target: target{Name: "haproxy-full-post", Kind: kindHAProxy, Request: orderRequest, Peer: "haproxy-full"}, runs: []runResult{
				fakeRun(10000, 2000, 12000, 5*time.Second, time.Second), fakeRun(10000, 2000, 12000, 5*time.Second, time.Second)}},
			// An audit row beside its audit-off row; the gnet one's base did not run.
			{target: target{Name: "tollgate-audit-process", Kind: kindTollgate, AuditOff: "tollgate"}, runs: []runResult{
				fakeRun(36000, 1000, 5000, 4320*time.Millisecond, time.Second), fakeRun(36000, 1000, 5000, 4320*time.Millisecond, time.Second)},
				auditBytes: 2_270_000, auditRecords: 73_000},
			{target: target{Name: "tollgate-gnet-audit-process", Kind: kindTollgate, AuditOff: "tollgate-gnet"}, runs: []runResult{
				fakeRun(36000, 1000, 5000, 4320*time.Millisecond, time.Second), fakeRun(36000, 1000, 5000, 4320*time.Millisecond, time.Second)}},
			{target: target{Name: "caddy", Kind: kindCaddy}, status: "skipped: caddy is not installed"},
			{target: target{Name: "haproxy", Kind: kindHAProxy}, status: "failed: cannot start: exited\nlog line"},
		},
		upRSS:   12 << 20,
		machine: machine{cpus: 2, cpuModel: "Test CPU", kernel: "6.1", versions: []string{"Go go1.26", "nginx/1.22.1"}, loadavg: "0.10 0.20 0.30"},
		when:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestReportCells(t *testing.T) {
	rep := testReport()
	cells := rep.cells()
	byName := map[string][]string{}
	for _, c := range cells {
		if len(c) != len(columns) {
			t.Fatalf("row %v has %d cells, want %d", c, len(c), len(columns))
		}
		byName[c[0]] = c
	}
	col := func(name string) int {
		for i, c := range columns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %q", name)
		return -1
	}
	f := func(target, column, want string) {
		t.Helper()
		if got := byName[target][col(column)]; got != want {
			t.Fatalf("%s / %s = %q, want %q", target, column, got, want)
		}
	}
	f("direct", "req/s", "90000")
	f("direct", "spread", "±11.1%")
	f("direct", "p50", "600µs")
	f("direct", "proxy CPU/req", "-")
	f("direct", "req/s ×direct", "1.00")
	f("direct", "CPU ×nginx", "-")
	f("tollgate", "req/s", "45000")
	f("tollgate", "proxy CPU/req", "10.0µs")
	f("tollgate", "upstream CPU/req", "2.2µs")
	f("tollgate", "peak RSS", "20.0 MiB")
	f("tollgate", "req/s ×direct", "0.50")
	f("tollgate", "req/s ×nginx", "1.00")
	f("tollgate", "CPU ×nginx", "0.50")
	f("tollgate", "p99 ×nginx", "1.00")
	f("tollgate", "req/s ×HAProxy-full", "1.50")
	f("tollgate", "CPU ×HAProxy-full", "0.33")
	f("nginx", "proxy CPU/req", "20.0µs")
	f("nginx", "CPU ×nginx", "1.00")
	f("haproxy-full-get", "CPU ×HAProxy-full", "1.00")
	f("haproxy-full-get", "CPU ×nginx", "1.50")
	// POST rows divide by nginx-post and haproxy-full-post, never by the
	// GET peers; no direct-post ran, so there is no ×direct ratio.
	f("tollgate-post", "proxy CPU/req", "20.0µs")
	f("tollgate-post", "req/s ×direct", "-")
	f("tollgate-post", "req/s ×nginx", "0.80")
	f("tollgate-post", "CPU ×nginx", "1.25")
	f("tollgate-post", "p99 ×nginx", "1.50")
	f("tollgate-post", "req/s ×HAProxy-full", "2.00")
	f("tollgate-post", "CPU ×HAProxy-full", "0.40")
	f("nginx-post", "req/s ×nginx", "1.00")
	f("haproxy-full-post", "req/s ×HAProxy-full", "1.00")
	f("haproxy-full-post", "req/s ×nginx", "0.40")
	// The audit-off columns: only audit rows whose audit-off row ran.
	f("tollgate-audit-process", "req/s ×audit off", "0.80")
	f("tollgate-audit-process", "CPU ×audit off", "1.20")
	f("tollgate-gnet-audit-process", "req/s ×audit off", "-")
	f("tollgate", "CPU ×audit off", "-")
	f("nginx", "req/s ×audit off", "-")
	// What the audit log holds on disk per record, for rows that have one.
	f("tollgate-audit-process", "audit B/record", "31.1")
	f("tollgate-gnet-audit-process", "audit B/record", "-")
	f("tollgate", "audit B/record", "-")
	f("caddy", "req/s", "skipped: caddy is not installed")
	f("haproxy", "req/s", "failed: cannot start: exited …")
}

func TestReportOutputs(t *testing.T) {
	rep := testReport()
	var tb bytes.Buffer
	rep.writeTable(&tb)
	for _, want := range []string{"target", "tollgate", "45000", "skipped: caddy is not installed", "demo upstream peak RSS: 12.0 MiB"} {
		if !strings.Contains(tb.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, tb.String())
		}
	}
	md := string(rep.markdown())
	for _, want := range []string{
		"## Proxy comparison (2026-01-02)",
		"| target | req/s |",
		"| tollgate | 45000 |",
		"- Machine: 2 CPUs, Test CPU, Linux 6.1.",
		"- Versions: Go go1.26; nginx/1.22.1.",
		"- Load average before the run: 0.10 0.20 0.30",
		"- Command: `scripts/bench.sh`",
		"- audit B/record is what a row's audit log holds on disk",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table line has the same number of cells.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, " |") != len(columns) {
			t.Fatalf("line %q has %d cells, want %d", line, strings.Count(line, " |"), len(columns))
		}
	}
}
