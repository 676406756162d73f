package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one target's outcome: its runs, or why it has none.
type row struct {
	target
	status string // "" when measured, else "skipped: …" or "failed: …"
	runs   []runResult
	rss    uint64 // peak RSS of the proxy's tree, bytes; 0 when unknown
	// audit is what the row's audit log held on disk at the end of the
	// run (auditlog.Reader.Usage): the bytes of its records' blocks and
	// the records, warm-ups included; zero for a row without one.
	auditBytes   int64
	auditRecords uint64
}

// summary is a row reduced to medians over its rounds.
type summary struct {
	ok                  bool
	rps, rpsMin, rpsMax float64
	p50, p99            float64 // µs
	cpuPerReq           float64 // µs of proxy CPU per request; <0 when none
	upCPUPerReq         float64 // µs of upstream CPU per request; <0 when unknown
	errors              int64
	requests            int64
}

// median returns the median of xs (the mean of the middle two for an even
// count); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r *row) summarize() summary {
	if r.status != "" || len(r.runs) == 0 {
		return summary{}
	}
	var rps, p50, p99, cpu, up []float64
	s := summary{ok: true, cpuPerReq: -1, upCPUPerReq: -1}
	for _, run := range r.runs {
		w := run.wrk
		rps = append(rps, w.RPS())
		p50 = append(p50, w.P50)
		p99 = append(p99, w.P99)
		s.errors += w.Errors()
		s.requests += w.Requests
		if run.proxyCPU >= 0 && w.Requests > 0 {
			cpu = append(cpu, float64(run.proxyCPU.Microseconds())/float64(w.Requests))
		}
		if run.upCPU >= 0 && w.Requests > 0 {
			up = append(up, float64(run.upCPU.Microseconds())/float64(w.Requests))
		}
	}
	s.rps, s.rpsMin, s.rpsMax = median(rps), slices.Min(rps), slices.Max(rps)
	s.p50, s.p99 = median(p50), median(p99)
	if len(cpu) > 0 {
		s.cpuPerReq = median(cpu)
	}
	if len(up) > 0 {
		s.upCPUPerReq = median(up)
	}
	return s
}

// report renders the results.
type report struct {
	opts    options
	rows    []*row
	upRSS   uint64
	machine machine
	when    time.Time
}

// baseColumns are the table's figures, before the ratio columns.
var baseColumns = []string{
	"target", "req/s", "spread", "p50", "p99", "proxy CPU/req", "upstream CPU/req",
	"peak RSS", "errors",
}

// ratioColumn divides a figure of each row by the same figure of a peer row
// (the row whose Peer is peer) of the same request method, measured in the
// same run: GET rows by the GET peer, POST rows by the POST peer.
type ratioColumn struct {
	header string
	peer   string
	figure func(summary) float64 // < 0 when the row has no such figure
}

var ratioColumns = []ratioColumn{
	{"req/s ×direct", "direct", summary.reqPerSec},
	{"req/s ×nginx", "nginx", summary.reqPerSec},
	{"CPU ×nginx", "nginx", summary.proxyCPU},
	{"p99 ×nginx", "nginx", summary.p99Latency},
	{"req/s ×HAProxy-full", "haproxy-full", summary.reqPerSec},
	{"CPU ×HAProxy-full", "haproxy-full", summary.proxyCPU},
}

// auditOffColumns divide a figure of an audit row by the same figure of
// its AuditOff row (same engine, audit log off) in the same run.
var auditOffColumns = []ratioColumn{
	{header: "req/s ×audit off", figure: summary.reqPerSec},
	{header: "CPU ×audit off", figure: summary.proxyCPU},
}

func (s summary) reqPerSec() float64  { return s.rps }
func (s summary) proxyCPU() float64   { return s.cpuPerReq }
func (s summary) p99Latency() float64 { return s.p99 }

// columns are the table's headers, shared by the text and Markdown forms.
var columns = func() []string {
	c := slices.Clone(baseColumns)
	for _, r := range ratioColumns {
		c = append(c, r.header)
	}
	for _, r := range auditOffColumns {
		c = append(c, r.header)
	}
	return append(c, "audit B/record")
}()

// peerKey names a peer row: its Peer and its request method.
type peerKey struct{ peer, method string }

// cells returns the table's rows as text cells.
func (rep *report) cells() [][]string {
	peers := map[peerKey]summary{}
	byName := map[string]summary{}
	for _, r := range rep.rows {
		if r.Peer != "" {
			peers[peerKey{r.Peer, r.Request.method()}] = r.summarize()
		}
		byName[r.Name] = r.summarize()
	}
	var out [][]string
	for _, r := range rep.rows {
		s := r.summarize()
		if !s.ok {
			status := r.status
			if status == "" {
				status = "no runs"
			}
			if i := strings.IndexByte(status, '\n'); i >= 0 {
				status = status[:i] + " …"
			}
			line := make([]string, len(columns))
			line[0], line[1] = r.Name, status
			out = append(out, line)
			continue
		}
		spread := "-"
		if s.rps > 0 {
			spread = fmt.Sprintf("±%.1f%%", 100*(s.rpsMax-s.rpsMin)/2/s.rps)
		}
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.rss)/(1<<20))
		}
		errs := fmt.Sprintf("%d", s.errors)
		if s.requests > 0 && s.errors > 0 {
			errs = fmt.Sprintf("%d (%.2f%%)", s.errors, 100*float64(s.errors)/float64(s.requests))
		}
		line := []string{
			r.Name,
			fmt.Sprintf("%.0f", s.rps),
			spread,
			fmtLatency(s.p50),
			fmtLatency(s.p99),
			fmtCPU(s.cpuPerReq),
			fmtCPU(s.upCPUPerReq),
			rss,
			errs,
		}
		for _, rc := range ratioColumns {
			p := peers[peerKey{rc.peer, r.Request.method()}]
			line = append(line, ratio(rc.figure(s), rc.figure(p), p.ok))
		}
		for _, rc := range auditOffColumns {
			off, ok := byName[r.AuditOff] // the zero summary when AuditOff is "" or did not run
			line = append(line, ratio(rc.figure(s), rc.figure(off), ok && off.ok))
		}
		perRecord := "-"
		if r.auditRecords > 0 {
			perRecord = fmt.Sprintf("%.1f", float64(r.auditBytes)/float64(r.auditRecords))
		}
		line = append(line, perRecord)
		out = append(out, line)
	}
	return out
}

// ratio formats x/base, or "-" when the peer is missing (!ok) or either
// figure is missing (< 0) or base is 0.
func ratio(x, base float64, ok bool) string {
	if !ok || x < 0 || base <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x/base)
}

// fmtLatency formats microseconds.
func fmtLatency(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1000)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}

func fmtCPU(us float64) string {
	if us < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", us)
}

// writeTable prints the aligned table and the setup line.
func (rep *report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", rep.setupLine())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(columns, "\t")+"\t")
	for _, c := range rep.cells() {
		fmt.Fprintln(tw, strings.Join(c, "\t")+"\t")
	}
	tw.Flush()
	if rep.upRSS > 0 {
		fmt.Fprintf(w, "\ndemo upstream peak RSS: %.1f MiB\n", float64(rep.upRSS)/(1<<20))
	}
}

func (rep *report) setupLine() string {
	o := rep.opts
	return fmt.Sprintf("wrk: %d threads, %d connections, %v per run after a %v warm-up, %d rounds in alternating order; medians over rounds; upstream: %s",
		o.Threads, o.Connections, o.Duration, o.Warmup, o.Rounds, o.Upstream)
}

// markdown renders the section for BENCHMARKS.md.
func (rep *report) markdown() []byte {
	var b bytes.Buffer
	m := rep.machine
	fmt.Fprintf(&b, "## Proxy comparison (%s)\n\n", rep.when.UTC().Format("2006-01-02"))
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", 1) + strings.Repeat(" ---: |", len(columns)-1) + "\n")
	for _, c := range rep.cells() {
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Setup: %s.\n", rep.setupLine())
	where := "its own process, `tollgate demo-upstream`"
	if rep.opts.Upstream == "inproc" {
		where = "inside loadbench (upstream CPU/req is then loadbench's own CPU time)"
	}
	fmt.Fprintf(&b, "- Every target forwards to the same demo upstream, run in %s; rows send `GET /bench` (a fixed 100-byte JSON body) unless their name ends in `-post`: those send `POST %s` with a %d-byte JSON order (`Content-Type: application/json`), answered 201 with the order echoed. \"direct\" is wrk against the upstream itself.\n", where, orderPath, len(benchOrder))
	b.WriteString("- Ratio columns divide a row's figure by its peer's in the same run, GET rows by the GET peer (direct, nginx, haproxy-full-get) and POST rows by the POST peer (direct-post, nginx-post, haproxy-full-post); \"-\" when the peer did not run. The ×audit off columns divide an audit row by the same engine's row with the audit log off (tollgate, tollgate-gnet), when it ran.\n")
	if slices.ContainsFunc(rep.rows, func(r *row) bool { return strings.Contains(r.Name, "-full") }) {
		b.WriteString("- Full pipeline: Tollgate verifies an RS256 JWT (one token: the verified-token cache answers), checks RBAC, a per-principal rate limit that never triggers, the JSON body against a schema, and writes the audit log (`durability: process`). HAProxy-full runs `jwt_verify` on every request (it has no cache) with iss/aud/exp checks, method/path ACLs, a stick-table rate limit and one log line per request to a file; it cannot validate JSON.\n")
	}
	if slices.ContainsFunc(rep.rows, func(r *row) bool { return r.auditRecords > 0 }) {
		b.WriteString("- audit B/record is what a row's audit log holds on disk at the end of the run (the bytes of its records' blocks, headers included, not the preallocated tail), divided by its records, warm-ups included: `tollgate audit stats` reports the same. The writer cuts a block at the end of every group of records, so the figure says how large the groups were; the requests here differ only in their IDs and times, so it is a best case.\n")
	}
	b.WriteString("- CPU/req is utime+stime over the whole process tree (nginx master and workers included), read from `/proc/PID/stat` around each measured run, divided by the requests completed. Peak RSS is VmHWM summed over the tree (shared pages count once per process).\n")
	b.WriteString("- wrk, the proxy and the upstream share the machine's cores, so these numbers rank the proxies against each other; they are not capacity figures.\n")
	fmt.Fprintf(&b, "- Load average before the run: %s (a value above the CPU count means other work shared the machine).\n", m.loadavg)
	if rep.upRSS > 0 {
		fmt.Fprintf(&b, "- Demo upstream peak RSS: %.1f MiB.\n", float64(rep.upRSS)/(1<<20))
	}
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, Linux %s.\n", m.cpus, m.cpuModel, m.kernel)
	b.WriteString("- Versions: " + strings.Join(m.versions, "; ") + ".\n")
	fmt.Fprintf(&b, "- Command: `%s`\n", rep.opts.Command)
	return b.Bytes()
}

func (rep *report) writeMarkdownFile(path string) error {
	if err := os.WriteFile(path, rep.markdown(), 0o644); err != nil {
		return fmt.Errorf("cannot write Markdown report: %w", err)
	}
	return nil
}

// machine describes where the numbers came from.
type machine struct {
	cpus     int
	cpuModel string
	kernel   string
	versions []string
	loadavg  string // 1, 5 and 15 minute load averages
}

// describeMachine reads the CPU model and kernel from /proc and asks each
// peer in use for its version.
func describeMachine(o options, sel []target) machine {
	m := machine{cpus: runtime.NumCPU(), cpuModel: "unknown CPU", kernel: "unknown", loadavg: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.cpuModel = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	m.versions = append(m.versions, "Go "+runtime.Version())
	if o.Idle == 0 { // the idle mode runs no wrk
		m.versions = append(m.versions, version(o.Wrk, "wrk", "-v"))
	}
	used := map[kind]bool{}
	for _, t := range sel {
		used[t.Kind] = true
	}
	if used[kindTollgate] || o.Upstream == "process" {
		m.versions = append(m.versions, version(o.Tollgate, "Tollgate", "version"))
	}
	if used[kindNginx] {
		m.versions = append(m.versions, version(o.Nginx, "nginx", "-v"))
	}
	if used[kindHAProxy] {
		m.versions = append(m.versions, version(o.HAProxy, "HAProxy", "-v"))
	}
	if used[kindCaddy] {
		m.versions = append(m.versions, version(o.Caddy, "Caddy", "version"))
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo content.
func cpuModel(cpuinfo []byte) string {
	for line := range strings.Lines(string(cpuinfo)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// version runs "bin arg" for at most 5 seconds and returns the first line
// of its output (wrk and nginx print to stderr, wrk exits non-zero),
// prefixed with label when the line does not name the tool.
func version(bin, label, arg string) string {
	path, err := lookBin(bin)
	if err != nil {
		return bin + " (not found)"
	}
	cmd := exec.Command(path, arg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return bin + " (unknown version)"
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return firstVersionLine(label, out.String())
}

// firstVersionLine extracts a one-line version from a tool's output:
// "nginx version: nginx/1.22.1" gives "nginx/1.22.1", "2.6.2 h1:…" gives
// "Caddy 2.6.2", "HAProxy version 2.6.12 2026/10/17 - https://…" gives
// "HAProxy 2.6.12".
func firstVersionLine(label, out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	line = strings.TrimSpace(line)
	lower := strings.ToLower(line)
	if line == "" || strings.Contains(lower, "usage") || strings.Contains(lower, "unknown") || strings.Contains(lower, "flag provided") {
		return label + " (unknown version)"
	}
	for _, cut := range []string{" Copyright", " - http", " h1:"} {
		if i := strings.Index(line, cut); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
	}
	line = strings.TrimPrefix(line, "nginx version: ")
	line = strings.Replace(line, " version ", " ", 1)
	f := strings.Fields(line)
	// HAProxy appends a release date.
	if len(f) == 3 && strings.Count(f[2], "/") == 2 {
		line = f[0] + " " + f[1]
	}
	if !strings.Contains(strings.ToLower(line), strings.ToLower(label)) {
		line = label + " " + line
	}
	return line
}

// loadAvg returns the 1, 5 and 15 minute load averages from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
