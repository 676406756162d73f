package main

// The idle mode (--idle N): what N idle keep-alive connections cost each
// target in resident memory, measured side by side in one run.
//
// Each selected target is started alone, as the load runs start it (its
// config has room for N clients: configEnv.MaxClients), and once its
// process tree's RSS has settled, it is read. loadbench then opens N TCP connections to it, one
// after another, sends one request on each (the row's own, GET /bench for
// the plain rows) and reads the whole response, then holds all N open and
// idle for --idle-wait, reads the tree's RSS again, checks that every
// connection is still open, closes them and stops the target. The cost per
// connection is (RSS after - RSS before) / N.
//
// The client is cheap so that it measures the target, not itself: plain
// net.Conns dialled and served sequentially with one small buffer, no
// goroutine per connection, nothing read or written once a response is in.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const (
	// idleHeadroom is the slack of the idle mode: each target is
	// configured for --idle N plus this many client connections (the
	// readiness probes' connections may still be closing), and loadbench
	// wants this many descriptors beyond the ones open and the N
	// connections (log files, the in-process upstream's connections).
	idleHeadroom = 256
	// maxIdle bounds --idle.
	maxIdle = 1 << 20
	// maxIdleWait bounds --idle-wait: HAProxy's "timeout client 30s"
	// closes idle keep-alive connections after 30s (Tollgate's default
	// idle_timeout after 60s), and the first connection has been idle
	// since it was opened, before the wait began.
	maxIdleWait = 20 * time.Second
	// idleBufSize is the one buffer every response is read through. The
	// response head must fit in it.
	idleBufSize = 4096
)

// loadOnlyFlags apply to load runs only; the idle mode runs no wrk and
// measures each target once.
var loadOnlyFlags = []string{"threads", "connections", "duration", "warmup", "rounds", "wrk"}

// checkIdleFlags validates --idle and --idle-wait against the other flags
// set in fs, and gives the idle mode its default targets, the "idle"
// preset.
func checkIdleFlags(fs *flag.FlagSet, o *options) []error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	switch {
	case o.Idle < 0 || o.Idle > maxIdle:
		errs = append(errs, fmt.Errorf("--idle %d: want between 1 and %d connections (0 or absent: load runs)", o.Idle, maxIdle))
	case o.Idle == 0:
		if set["idle-wait"] {
			errs = append(errs, errors.New("--idle-wait applies only with --idle N"))
		}
		return errs
	}
	if o.IdleWait < 0 || o.IdleWait > maxIdleWait {
		errs = append(errs, fmt.Errorf("--idle-wait %v: want between 0s and %v (HAProxy closes idle connections after 30s)", o.IdleWait, maxIdleWait))
	}
	for _, name := range loadOnlyFlags {
		if set[name] {
			errs = append(errs, fmt.Errorf("--%s applies only to load runs, not to --idle (one measurement per target, without wrk)", name))
		}
	}
	if strings.TrimSpace(o.Targets) == "" {
		o.Targets = "idle"
	}
	return errs
}

// idleResult is one target's idle measurement. RSS figures are VmRSS
// summed over the target's process tree.
type idleResult struct {
	before   treeUsage     // after the readiness check, before any connection
	after    treeUsage     // with the connections held, at the end of the wait
	opened   int           // connections that got their response
	held     int           // connections still open at the end of the wait
	openTime time.Duration // opening the connections and reading their responses
}

// kibPerConn returns (RSS after - RSS before) / opened in KiB: what one
// idle connection costs the target. It is negative when the target
// returned more memory than the connections took, and -1 with none.
func (r idleResult) kibPerConn() float64 {
	if r.opened == 0 {
		return -1
	}
	return (float64(r.after.rss) - float64(r.before.rss)) / 1024 / float64(r.opened)
}

// idleRow is one target's outcome in the idle mode.
type idleRow struct {
	target
	status string // "" when measured, else "skipped: …" or "failed: …"
	res    idleResult
}

// runIdle is run for --idle: it measures every selected target in turn and
// prints the table (and writes the Markdown section).
func runIdle(ctx context.Context, o options, stdout, stderr io.Writer) error {
	rep, err := idleBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	rep.writeTable(stdout)
	if o.Markdown != "" {
		if err := os.WriteFile(o.Markdown, rep.markdown(), 0o644); err != nil {
			return fmt.Errorf("cannot write Markdown report: %w", err)
		}
		fmt.Fprintf(stderr, "loadbench: wrote %s\n", o.Markdown)
	}
	for _, r := range rep.rows {
		if strings.HasPrefix(r.status, "failed") {
			return fmt.Errorf("cannot measure target %q: %s", r.Name, strings.TrimPrefix(r.status, "failed: "))
		}
	}
	return nil
}

// idleBench starts the upstream, then each target alone: it measures the
// target's idle connections and stops it before the next starts. Every
// process it starts is stopped before it returns.
func idleBench(ctx context.Context, o options, stderr io.Writer) (*idleReport, error) {
	sel, err := selectTargets(o.Targets)
	if err != nil {
		return nil, err
	}
	if err := reserveFDs(o.Idle); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if ports, err := parsePortRange(b); err == nil && o.Idle > ports {
			return nil, fmt.Errorf("--idle %d: only %d local ports (net.ipv4.ip_local_port_range) to connect from, to one target address", o.Idle, ports)
		}
	}
	tick := clockTick()
	mach := describeMachine(o, sel)
	warnLoad(mach, stderr)

	env, err := startEnv(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	defer env.close()
	dir, upAddr := env.dir, env.upAddr
	fmt.Fprintf(stderr, "loadbench: upstream on %s (%s); %d targets, one at a time, %d idle connections each, held %v\n",
		upAddr, o.Upstream, len(sel), o.Idle, o.IdleWait)

	rep := &idleReport{opts: o, machine: mach}
	for _, t := range sel {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("cannot finish the idle measurement: interrupted: %w", err)
		}
		if t.Request.Path == "" {
			t.Request.Path = "/bench"
		}
		r := &idleRow{target: t}
		rep.rows = append(rep.rows, r)
		started := len(env.procs)
		rt, err := startTarget(ctx, o, dir, upAddr, t, &env.procs)
		if err == nil {
			r.res, err = measureIdle(ctx, o, rt, tick)
		}
		// Each target is measured alone: it stops before the next starts.
		for _, p := range env.procs[started:] {
			p.stop()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("cannot finish the idle measurement: interrupted: %w", ctx.Err())
			}
			var skip skipError
			if errors.As(err, &skip) {
				r.status = "skipped: " + skip.Error()
			} else {
				r.status = "failed: " + err.Error()
			}
			fmt.Fprintf(stderr, "loadbench: %s: %s\n", t.Name, r.status)
			continue
		}
		fmt.Fprintf(stderr, "loadbench: %-18s RSS %s before, %s with %d idle connections (%.1f KiB each); opened in %v\n",
			t.Name, fmtMiB(r.res.before.rss), fmtMiB(r.res.after.rss), r.res.opened, r.res.kibPerConn(), r.res.openTime.Round(time.Millisecond))
	}
	rep.when = time.Now()
	return rep, nil
}

// measureIdle reads the target's tree RSS, opens o.Idle connections with
// one request each, holds them idle for o.IdleWait, reads the RSS again
// and checks that the target kept every connection open.
func measureIdle(ctx context.Context, o options, rt *runTarget, tick time.Duration) (idleResult, error) {
	var res idleResult
	if rt.proc == nil {
		return res, errors.New("no proxy process to measure")
	}
	req, err := rawRequest(rt.target.Request, rt.addr)
	if err != nil {
		return res, err
	}
	if res.before, err = settledTree(ctx, rt.proc.pid(), tick); err != nil {
		return res, err
	}
	conns := make([]net.Conn, 0, o.Idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	begin := time.Now()
	conns, err = openIdle(ctx, rt.addr, req, o.Idle, o.Timeout, conns)
	res.opened = len(conns)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if !rt.proc.running() {
			return res, fmt.Errorf("exited (%v) after %d of %d connections; log:\n%s", rt.proc.waitErr, len(conns), o.Idle, rt.proc.logTail(20))
		}
		return res, fmt.Errorf("cannot open %d idle connections: %w", o.Idle, err)
	}
	res.openTime = time.Since(begin)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.IdleWait):
	}
	if res.after, err = readTree(rt.proc.pid(), tick); err != nil {
		return res, err
	}
	res.held = countHeld(conns)
	if res.held < res.opened {
		return res, fmt.Errorf("the target closed %d of its %d idle connections within %v", res.opened-res.held, res.opened, o.IdleWait)
	}
	return res, nil
}

// settleTimeout bounds how long settledTree waits.
const settleTimeout = 5 * time.Second

// settledTree reads the process tree every 200ms until two reads in a row
// agree (settled), so that RSS before is not read while a worker is still
// starting (nginx's readiness probe may be answered by one worker before
// the other has set up its connection tables). After settleTimeout it
// returns the last read.
func settledTree(ctx context.Context, pid int, tick time.Duration) (treeUsage, error) {
	prev, err := readTree(pid, tick)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(settleTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		u, err := readTree(pid, tick)
		if err != nil {
			return u, err
		}
		if settled(prev, u) {
			return u, nil
		}
		prev = u
	}
	return prev, nil
}

// settled reports whether two reads of a tree, 200ms apart, show it at
// rest: the same processes, and RSS within 1% or 64 KiB.
func settled(a, b treeUsage) bool {
	d := max(a.rss, b.rss) - min(a.rss, b.rss)
	return a.procs == b.procs && (d <= 64<<10 || d*100 <= a.rss)
}

// openIdle dials n connections to addr one after another, sends req on
// each and reads its whole response, each step bounded by timeout. It
// appends the connections to conns and returns them, also on error, for
// the caller to close. One buffer serves every response, and no goroutine
// is left behind: the connections stay idle in the caller's slice.
func openIdle(ctx context.Context, addr string, req []byte, n int, timeout time.Duration, conns []net.Conn) ([]net.Conn, error) {
	// KeepAlive -1: no TCP keep-alive probes, the connections are idle.
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	buf := make([]byte, idleBufSize)
	for i := 0; i < n; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return conns, ctx.Err()
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return conns, fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns = append(conns, c)
		if err := exchange(c, req, buf, timeout); err != nil {
			return conns[:len(conns)-1], errors.Join(fmt.Errorf("connection %d: %w", i+1, err), c.Close())
		}
	}
	return conns, nil
}

// exchange sends req on c and reads the response, within timeout.
func exchange(c net.Conn, req, buf []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("cannot send the request: %w", err)
	}
	if err := readResponse(c, buf); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("no whole response within %v (a connection limit of the target?): %w", timeout, err)
		}
		return err
	}
	return c.SetDeadline(time.Time{})
}

// rawRequest returns req as HTTP/1.1 bytes for host. HTTP/1.1 connections
// are persistent unless a side says "Connection: close", which it does
// not.
func rawRequest(req request, host string) ([]byte, error) {
	var b bytes.Buffer
	check := func(what, s string) error {
		if strings.ContainsAny(s, "\r\n") {
			return fmt.Errorf("cannot send a request with a line break in its %s: %q", what, s)
		}
		return nil
	}
	if err := errors.Join(check("method", req.method()), check("path", req.Path), check("host", host)); err != nil {
		return nil, err
	}
	if req.Path == "" || strings.ContainsAny(req.method()+req.Path, " ") {
		return nil, fmt.Errorf("cannot send %s %q: want a method and a path without spaces", req.method(), req.Path)
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.method(), req.Path, host)
	for _, h := range req.Headers {
		if err := check("headers", h); err != nil {
			return nil, err
		}
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("cannot use header %q: want \"Name: value\"", h)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if req.Body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(req.Body))
	}
	b.WriteString("\r\n")
	b.WriteString(req.Body)
	return b.Bytes(), nil
}

var headEnd = []byte("\r\n\r\n")

// readResponse reads one HTTP/1.1 response from r through buf, its only
// buffer: the head must fit in buf, the body passes through it and is
// dropped. The response must be 2xx, have a Content-Length (or no body),
// and leave the connection open. It reads no byte past the body.
func readResponse(r io.Reader, buf []byte) error {
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			return fmt.Errorf("response head exceeds %d bytes", len(buf))
		}
		m, err := r.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], headEnd); i >= 0 {
			end = i + len(headEnd)
			break
		}
		if err != nil {
			return fmt.Errorf("cannot read the response head (%d bytes in): %w", n, unexpectedEOF(err))
		}
	}
	length, err := parseHead(buf[:end])
	if err != nil {
		return err
	}
	got := n - end
	if got > length {
		return fmt.Errorf("%d bytes past the %d-byte response body", got-length, length)
	}
	for got < length {
		m, err := r.Read(buf[:min(len(buf), length-got)])
		got += m
		if err != nil && got < length {
			return fmt.Errorf("cannot read the response body (%d of %d bytes): %w", got, length, unexpectedEOF(err))
		}
	}
	return nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseHead checks a response head (status line and headers, with the
// blank line) and returns its body's length.
func parseHead(head []byte) (int, error) {
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	status, ok := strings.CutPrefix(lines[0], "HTTP/1.1 ")
	if !ok {
		return 0, fmt.Errorf("cannot use response %.60q: want HTTP/1.1, whose connections stay open", lines[0])
	}
	code, err := strconv.Atoi(strings.SplitN(status, " ", 2)[0])
	if err != nil || code < 100 || code > 999 {
		return 0, fmt.Errorf("cannot parse status line %.60q", lines[0])
	}
	if code/100 != 2 {
		return 0, fmt.Errorf("answered %d, want 2xx", code)
	}
	length := -1
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return 0, fmt.Errorf("cannot parse header line %.60q", line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			v, err := strconv.Atoi(value)
			if err != nil || v < 0 || (length >= 0 && v != length) {
				return 0, fmt.Errorf("cannot use Content-Length %q", value)
			}
			length = v
		case "transfer-encoding":
			return 0, fmt.Errorf("cannot read a response with Transfer-Encoding %q: want a Content-Length", value)
		case "connection":
			for _, tok := range strings.Split(value, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "close") {
					return 0, errors.New("the target closes the connection after the response (Connection: close)")
				}
			}
		}
	}
	if length < 0 {
		if code == 204 {
			return 0, nil
		}
		return 0, fmt.Errorf("%d response without a Content-Length", code)
	}
	return length, nil
}

// countHeld returns how many of conns are still open and idle: the peer
// has neither closed nor reset them, nor sent anything.
func countHeld(conns []net.Conn) int {
	held := 0
	for _, c := range conns {
		if idleOpen(c) {
			held++
		}
	}
	return held
}

// idleOpen peeks at c without blocking or consuming: "would block" means
// open and idle; end of stream, an error or unasked-for bytes mean not.
func idleOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // one look, never wait for readiness
	})
	return err == nil && n <= 0 && (rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK)
}

// reserveFDs makes sure loadbench may hold n connections on top of the
// descriptors it has open, plus idleHeadroom. Go's syscall package already
// raised the soft RLIMIT_NOFILE to just below the hard limit when
// loadbench started (and restores the original in the processes it
// starts), so this raises the limit only when that is not enough, which
// for the hard limit takes privilege (CAP_SYS_RESOURCE). Raising it here
// also makes the targets inherit it; they set their own anyway (Go raises
// Tollgate's, nginx has worker_rlimit_nofile, HAProxy follows maxconn).
func reserveFDs(n int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("cannot count open descriptors: %w", err)
	}
	need := uint64(len(ents) + n + idleHeadroom)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	raised := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Errorf("--idle %d needs %d file descriptors (%d open, %d connections, %d spare), but RLIMIT_NOFILE is %d (hard limit %d) and cannot be raised (%v): raise it with ulimit -n, or lower --idle",
			n, need, len(ents), n, idleHeadroom, lim.Cur, lim.Max, err)
	}
	return nil
}

// parsePortRange returns how many ports /proc/sys/net/ipv4/ip_local_port_range
// ("32768	60999") allows.
func parsePortRange(b []byte) (int, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("cannot parse port range %q", b)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err := errors.Join(err1, err2); err != nil || lo <= 0 || hi < lo {
		return 0, fmt.Errorf("cannot parse port range %q", b)
	}
	return hi - lo + 1, nil
}

// idleReport renders the idle mode's results.
type idleReport struct {
	opts    options
	rows    []*idleRow
	machine machine
	when    time.Time
}

// columns are the idle table's headers, shared by the text and Markdown
// forms.
func (rep *idleReport) columns() []string {
	return []string{"target", "RSS before", fmt.Sprintf("RSS with %d idle", rep.opts.Idle), "KiB/conn", "peak RSS", "held",
		"RSS ×nginx", "KiB/conn ×nginx"}
}

// cells returns the table's rows as text cells. Ratios divide by the nginx
// row of the same request method in the same run.
func (rep *idleReport) cells() [][]string {
	peers := map[peerKey]idleResult{}
	for _, r := range rep.rows {
		if r.Peer != "" && r.status == "" {
			peers[peerKey{r.Peer, r.Request.method()}] = r.res
		}
	}
	var out [][]string
	for _, r := range rep.rows {
		line := make([]string, len(rep.columns()))
		line[0] = r.Name
		if r.status != "" {
			status := r.status
			if i := strings.IndexByte(status, '\n'); i >= 0 {
				status = status[:i] + " …"
			}
			line[1] = status
			out = append(out, line)
			continue
		}
		res := r.res
		nginx, ok := peers[peerKey{"nginx", r.Request.method()}]
		copy(line[1:], []string{
			fmtMiB(res.before.rss),
			fmtMiB(res.after.rss),
			fmt.Sprintf("%.1f", res.kibPerConn()),
			fmtMiB(res.after.hwm),
			strconv.Itoa(res.held),
			ratio(float64(res.after.rss), float64(nginx.after.rss), ok),
			ratio(res.kibPerConn(), nginx.kibPerConn(), ok),
		})
		out = append(out, line)
	}
	return out
}

func fmtMiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (rep *idleReport) setupLine() string {
	o := rep.opts
	return fmt.Sprintf("idle: %d keep-alive connections per target, one request and its whole response on each, then held idle for %v; one target at a time, each freshly started; upstream: %s",
		o.Idle, o.IdleWait, o.Upstream)
}

// writeTable prints the aligned table and the setup line.
func (rep *idleReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", rep.setupLine())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(rep.columns(), "\t")+"\t")
	for _, c := range rep.cells() {
		fmt.Fprintln(tw, strings.Join(c, "\t")+"\t")
	}
	tw.Flush()
}

// markdown renders the section for BENCHMARKS.md.
func (rep *idleReport) markdown() []byte {
	var b bytes.Buffer
	m := rep.machine
	cols := rep.columns()
	fmt.Fprintf(&b, "## Idle keep-alive connections (%s)\n\n", rep.when.UTC().Format("2006-01-02"))
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	b.WriteString("| --- |" + strings.Repeat(" ---: |", len(cols)-1) + "\n")
	for _, c := range rep.cells() {
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Setup: %s.\n", rep.setupLine())
	fmt.Fprintf(&b, "- Each target is started from its row's config, in front of the demo upstream, and answers its readiness probe; once two reads of its RSS 200ms apart agree (within 1%%), that is \"RSS before\"; then loadbench opens %d TCP connections to it one after another, sends one HTTP/1.1 request on each (`GET /bench` unless the row says otherwise, no `Connection: close`), reads the whole response (for `GET /bench`, 200 with a fixed 100-byte JSON body and its Content-Length), and sends nothing more. After %v with every connection open and idle it reads the RSS again (\"RSS with %d idle\"), and checks that the target kept them all (\"held\", a non-blocking peek on each; a target that closed one fails). KiB/conn is (RSS with - RSS before) / %d.\n",
		rep.opts.Idle, rep.opts.IdleWait, rep.opts.Idle, rep.opts.Idle)
	b.WriteString("- RSS is VmRSS summed over the target's process tree (nginx master and workers; shared pages count once per process); peak RSS is VmHWM summed the same way, at the end of the wait. Kernel socket buffers are not in RSS, for any target.\n")
	fmt.Fprintf(&b, "- Limits raised for this run: Tollgate's listener `max_connections`, nginx's `worker_connections` (%d) and `worker_rlimit_nofile`, HAProxy's `maxconn` (%d, with `no strict-limits`: HAProxy wants two descriptors per connection, idle clients use one); Tollgate's `idle_timeout` (60s), nginx's `keepalive_timeout` (75s) and HAProxy's `timeout client` (30s) outlast the wait.\n",
		configEnv{MaxClients: rep.opts.Idle + idleHeadroom}.NginxWorkerConnections(), configEnv{MaxClients: rep.opts.Idle + idleHeadroom}.HAProxyMaxConn())
	b.WriteString("- `tollgate-gnet` is Tollgate's event-loop engine, `tollgate-fasthttp` its goroutine-per-connection engine. Ratio columns divide by the nginx row of the same run; \"-\" when nginx did not run or a figure is not positive.\n")
	fmt.Fprintf(&b, "- Load average before the run: %s (a value above the CPU count means other work shared the machine).\n", m.loadavg)
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, Linux %s.\n", m.cpus, m.cpuModel, m.kernel)
	b.WriteString("- Versions: " + strings.Join(m.versions, "; ") + ".\n")
	fmt.Fprintf(&b, "- Command: `%s`\n", rep.opts.Command)
	return b.Bytes()
}
