package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// options are loadbench's flags.
type options struct {
	Tollgate    string
	Targets     string
	Upstream    string // "process" or "inproc"
	Threads     int
	Connections int
	Duration    time.Duration
	Warmup      time.Duration
	Timeout     time.Duration
	Rounds      int
	Markdown    string
	Keep        bool
	Wrk         string
	Nginx       string
	HAProxy     string
	Caddy       string
	Command     string // the command line shown in the report
	// postgres is the URL of the PostgreSQL server run started for the
	// Postgres rows, empty when none is selected or none is installed.
	postgres string
	// Idle > 0 selects the idle mode: hold Idle keep-alive connections to
	// each target and measure its RSS (idle.go) instead of driving load.
	Idle     int
	IdleWait time.Duration // how long the connections stay idle before RSS is read
}

func main() {
	os.Exit(mainArgs(os.Args[1:], os.Stdout, os.Stderr))
}

// mainArgs parses args, runs the benchmark until done or interrupted, and
// returns the exit code: 0 when every selected target was measured or
// skipped for a missing peer, 1 when one failed, 2 on bad usage.
func mainArgs(args []string, stdout, stderr io.Writer) int {
	opts, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return 1
	}
	return 0
}

// parseFlags returns the options, or an exit code >= 0 when loadbench must
// stop (help, bad usage).
func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Tollgate, "tollgate", "", "path of a built tollgate binary (required unless --upstream inproc and no tollgate target)")
	fs.StringVar(&o.Targets, "targets", "", "comma-separated targets to run, from: "+targetNames()+"; or presets, which stand for their rows: "+presetNames()+" (default: all default rows)")
	fs.StringVar(&o.Upstream, "upstream", "process", `how to run the demo upstream: "process" (BIN demo-upstream) or "inproc" (inside loadbench)`)
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.Connections, "connections", 64, "wrk connections")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured run (whole seconds)")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "length of the unmeasured run before each measured one (0 disables)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "wrk's per-request timeout")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds over all targets, order alternating (at least 2)")
	fs.StringVar(&o.Markdown, "markdown", "", "also write the results as a Markdown section to this file")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory with configs and logs")
	fs.StringVar(&o.Wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&o.Nginx, "nginx", "nginx", "nginx binary")
	fs.StringVar(&o.HAProxy, "haproxy", "haproxy", "haproxy binary")
	fs.StringVar(&o.Caddy, "caddy", "caddy", "caddy binary")
	fs.StringVar(&o.Command, "command", "", "command line to show in the report (default: loadbench and its arguments)")
	fs.IntVar(&o.Idle, "idle", 0, "instead of load runs, open N keep-alive connections to each target, one request on each, hold them idle and report the RSS they cost (default targets: the idle preset; --timeout bounds each response)")
	fs.DurationVar(&o.IdleWait, "idle-wait", 2*time.Second, "with --idle: how long the connections stay idle before RSS is read (at most 20s)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0
		}
		return o, 2
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if o.Upstream != "process" && o.Upstream != "inproc" {
		errs = append(errs, fmt.Errorf(`--upstream %q: want "process" or "inproc"`, o.Upstream))
	}
	if o.Threads < 1 || o.Connections < o.Threads {
		errs = append(errs, fmt.Errorf("--threads %d --connections %d: want threads >= 1 and connections >= threads", o.Threads, o.Connections))
	}
	if o.Duration < time.Second || o.Duration > time.Hour {
		errs = append(errs, fmt.Errorf("--duration %v: want between 1s and 1h", o.Duration))
	}
	if o.Warmup < 0 || o.Warmup > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--warmup %v: want between 0s and 10m", o.Warmup))
	}
	if o.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("--timeout %v: want at least 1s", o.Timeout))
	}
	if o.Rounds < 2 || o.Rounds > 100 {
		errs = append(errs, fmt.Errorf("--rounds %d: want between 2 and 100", o.Rounds))
	}
	errs = append(errs, checkIdleFlags(fs, &o)...)
	sel, err := selectTargets(o.Targets)
	if err != nil {
		errs = append(errs, err)
	}
	if o.Idle > 0 {
		for _, t := range sel {
			if t.Kind == kindDirect {
				errs = append(errs, fmt.Errorf("--idle: target %q has no proxy process whose memory could be measured", t.Name))
			}
		}
	}
	needBin := o.Upstream == "process"
	for _, t := range sel {
		needBin = needBin || t.Kind == kindTollgate
	}
	if needBin && o.Tollgate == "" {
		errs = append(errs, errors.New("--tollgate BIN is required to run the demo upstream or a tollgate target"))
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "loadbench: %v\n", e)
		}
		return o, 2
	}
	if o.Command == "" {
		o.Command = "loadbench " + strings.Join(args, " ")
	}
	if o.Tollgate != "" {
		// Processes start in their own directories: a relative path would
		// no longer point at the binary.
		if abs, err := filepath.Abs(o.Tollgate); err == nil {
			o.Tollgate = abs
		}
	}
	return o, -1
}

// runTarget is a target being measured: its process and where to reach it.
type runTarget struct {
	target
	row    *row
	proc   *proc  // nil for direct
	addr   string // 127.0.0.1:PORT the target listens on
	url    string
	script string
}

// run starts the upstream and every selected target, measures them, and
// prints the results. Every process it starts is stopped before it returns.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	if o.Idle > 0 {
		return runIdle(ctx, o, stdout, stderr)
	}
	sel, err := selectTargets(o.Targets)
	if err != nil {
		return err
	}
	wrkBin, err := lookBin(o.Wrk)
	if err != nil {
		return fmt.Errorf("cannot find wrk (run scripts/bench-deps.sh): %w", err)
	}
	tick := clockTick()
	// Read before anything starts: the report shows what else was running.
	mach := describeMachine(o, sel)
	warnLoad(mach, stderr)

	env, err := startEnv(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer env.close()
	dir, upAddr, upProc := env.dir, env.upAddr, env.upProc

	if slices.ContainsFunc(sel, func(t target) bool { return t.Postgres }) {
		pg, err := testpg.Start()
		switch {
		case err == nil:
			defer pg.Close()
			o.postgres = pg.URL()
			fmt.Fprintf(stderr, "loadbench: PostgreSQL on %s (pid %d) for the shipping rows\n", pg.Addr(), pg.PID())
		case errors.Is(err, testpg.ErrNoPostgres):
		default:
			return fmt.Errorf("cannot start PostgreSQL: %w", err)
		}
	}

	spec := loadSpec{Wrk: wrkBin, Threads: o.Threads, Connections: o.Connections, Duration: o.Duration, Timeout: o.Timeout}
	fmt.Fprintf(stderr, "loadbench: upstream on %s (%s); %d targets x %d rounds x (%v warm-up + %v)\n",
		upAddr, o.Upstream, len(sel), o.Rounds, o.Warmup, o.Duration)

	var rows []*row
	var live []*runTarget
	for _, t := range sel {
		if t.Request.Path == "" {
			t.Request.Path = "/bench"
		}
		r := &row{target: t}
		rows = append(rows, r)
		rt, err := startTarget(ctx, o, dir, upAddr, t, &env.procs)
		if err != nil {
			var skip skipError
			if errors.As(err, &skip) {
				r.status = "skipped: " + skip.Error()
			} else {
				r.status = "failed: " + err.Error()
			}
			fmt.Fprintf(stderr, "loadbench: %s: %s\n", t.Name, r.status)
			continue
		}
		rt.row = r
		if rt.script, err = writeScript(dir, t.Name, rt.target.Request); err != nil {
			return err
		}
		live = append(live, rt)
		fmt.Fprintf(stderr, "loadbench: %s ready at %s\n", t.Name, rt.url)
	}

	for round := 0; round < o.Rounds; round++ {
		order := make([]*runTarget, len(live))
		copy(order, live)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, rt := range order {
			if rt.row.status != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("cannot finish the benchmark: interrupted: %w", err)
			}
			res, err := measure(ctx, spec, o.Warmup, rt, upProc, o.Upstream == "inproc", tick)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("cannot finish the benchmark: interrupted: %w", ctx.Err())
				}
				rt.row.status = "failed: " + err.Error()
				fmt.Fprintf(stderr, "loadbench: %s: %s\n", rt.Name, rt.row.status)
				continue
			}
			rt.row.runs = append(rt.row.runs, res)
			fmt.Fprintf(stderr, "loadbench: round %d %-27s %10.0f req/s  p50 %s  p99 %s  errors %d\n",
				round+1, rt.Name, res.wrk.RPS(), fmtLatency(res.wrk.P50), fmtLatency(res.wrk.P99), res.wrk.Errors())
		}
	}

	// Peak RSS is read once, at the end: VmHWM is a high-water mark.
	var upRSS uint64
	if upProc != nil {
		if u, err := readTree(upProc.pid(), tick); err == nil {
			upRSS = u.hwm
		}
	}
	for _, rt := range live {
		if rt.proc != nil {
			if u, err := readTree(rt.proc.pid(), tick); err == nil {
				rt.row.rss = u.hwm
			}
		}
	}
	for _, rt := range live {
		readAuditUsage(rt.row, filepath.Join(dir, rt.Name, "audit"), stderr)
	}

	rep := report{
		opts:    o,
		rows:    rows,
		upRSS:   upRSS,
		machine: mach,
		when:    time.Now(),
	}
	rep.writeTable(stdout)
	if o.Markdown != "" {
		if err := rep.writeMarkdownFile(o.Markdown); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "loadbench: wrote %s\n", o.Markdown)
	}
	for _, r := range rows {
		if strings.HasPrefix(r.status, "failed") {
			return fmt.Errorf("cannot measure target %q: %s", r.Name, strings.TrimPrefix(r.status, "failed: "))
		}
	}
	return nil
}

// readAuditUsage reads what the audit log in dir holds on disk into r,
// when the row has one. The proxy still runs: a reader reads a live log.
func readAuditUsage(r *row, dir string, stderr io.Writer) {
	if _, err := os.Stat(dir); err != nil {
		return // no audit log in this row
	}
	rd, err := auditlog.OpenReader(dir)
	if err != nil {
		fmt.Fprintf(stderr, "loadbench: %s: cannot read its audit log: %v\n", r.Name, err)
		return
	}
	defer rd.Close()
	u, err := rd.Usage()
	if err != nil {
		fmt.Fprintf(stderr, "loadbench: %s: cannot read its audit log: %v\n", r.Name, err)
		return
	}
	r.auditBytes, r.auditRecords = u.Bytes(), u.Records()
}

// warnLoad warns when the load average read before the run exceeds the CPU
// count: other work shares the machine.
func warnLoad(mach machine, stderr io.Writer) {
	if la := strings.Fields(mach.loadavg); len(la) > 0 {
		if v, err := strconv.ParseFloat(la[0], 64); err == nil && v > float64(mach.cpus) {
			fmt.Fprintf(stderr, "loadbench: warning: load average %s exceeds %d CPUs; other work will skew the numbers\n", mach.loadavg, mach.cpus)
		}
	}
}

// workDir creates the temporary directory for configs and logs; cleanup
// removes it unless --keep.
func workDir(o options, stderr io.Writer) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "tollgate-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("cannot create work directory: %w", err)
	}
	if o.Keep {
		fmt.Fprintf(stderr, "loadbench: configs and logs are kept in %s\n", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// env is what a run sets up before its targets: a work directory, the
// processes it starts (stopped in reverse order by close) and the demo
// upstream.
type env struct {
	dir      string
	procs    []*proc
	upAddr   string
	upProc   *proc
	shutdown func() // the in-process upstream's
	cleanup  func() // the work directory's
}

// startEnv makes the work directory and starts the demo upstream.
func startEnv(ctx context.Context, o options, stderr io.Writer) (*env, error) {
	dir, cleanup, err := workDir(o, stderr)
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, cleanup: cleanup, shutdown: func() {}}
	if e.upAddr, e.upProc, e.shutdown, err = startUpstream(ctx, o, dir, &e.procs); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// close stops the in-process upstream, then what the run started, last
// first, and removes the work directory (unless --keep).
func (e *env) close() {
	e.shutdown()
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.cleanup()
}

// startUpstream starts the demo upstream as --upstream says (its process
// is added to procs; the in-process one is stopped by shutdown) and waits
// until it answers GET /bench. up is nil for the in-process upstream.
func startUpstream(ctx context.Context, o options, dir string, procs *[]*proc) (addr string, up *proc, shutdown func(), err error) {
	shutdown = func() {}
	addr, err = freePort()
	if err != nil {
		return "", nil, shutdown, err
	}
	if o.Upstream == "inproc" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", nil, shutdown, fmt.Errorf("cannot listen for the in-process upstream: %w", err)
		}
		srv := upstream.New(upstream.Options{})
		go func() { _ = srv.Serve(ln) }()
		shutdown = func() { _ = srv.Shutdown() }
	} else {
		up, err = startProc("upstream", dir, nil, o.Tollgate, "demo-upstream", "--listen", addr)
		if err != nil {
			return "", nil, shutdown, err
		}
		*procs = append(*procs, up)
	}
	if err := waitReady(ctx, up, "http://"+addr, request{Path: "/bench"}); err != nil {
		shutdown()
		return "", nil, func() {}, fmt.Errorf("demo upstream: %w", err)
	}
	return addr, up, shutdown, nil
}

// skipError marks a target that cannot run here (its peer is not
// installed); it is reported, not treated as a failure.
type skipError struct{ msg string }

func (e skipError) Error() string { return e.msg }

// startTarget writes the target's config, starts its process, and waits
// until it answers its request with 2xx.
func startTarget(ctx context.Context, o options, dir, upAddr string, t target, procs *[]*proc) (*runTarget, error) {
	rt := &runTarget{target: t}
	if t.Kind == kindDirect {
		rt.addr = upAddr
		rt.url = "http://" + upAddr + t.Request.Path
		return rt, nil
	}
	tdir := filepath.Join(dir, t.Name)
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create directory for %s: %w", t.Name, err)
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	if t.Postgres && o.postgres == "" {
		return nil, skipError{"PostgreSQL is not installed (apt-get install postgresql)"}
	}
	env := configEnv{Dir: tdir, Listen: listen, Admin: admin, Upstream: upAddr, Root: isRoot(), Postgres: o.postgres}
	if o.Idle > 0 {
		env.MaxClients = o.Idle + idleHeadroom
	}
	if t.Redis {
		if env.Redis, err = startRedis(ctx, t.Name, tdir, procs); err != nil {
			return nil, err
		}
	}
	if t.Prepare != nil {
		req := t.Request
		req.Headers = append([]string(nil), t.Request.Headers...)
		if err := t.Prepare(tdir, &req); err != nil {
			return nil, fmt.Errorf("cannot prepare %s: %w", t.Name, err)
		}
		rt.target.Request = req
	}

	tmpl, file := configOf(t)
	var bin string
	var args, extraEnv []string
	switch t.Kind {
	case kindTollgate:
		bin = o.Tollgate
		args = []string{"run", "-c", filepath.Join(tdir, file)}
	case kindNginx:
		bin = o.Nginx
		// -e: the startup error log, before the config's own is opened.
		args = []string{"-p", tdir, "-e", filepath.Join(tdir, "error.log"), "-c", filepath.Join(tdir, file)}
	case kindHAProxy:
		bin = o.HAProxy
		args = []string{"-db", "-f", filepath.Join(tdir, file)}
	case kindCaddy:
		bin = o.Caddy
		args = []string{"run", "--config", filepath.Join(tdir, file)}
		extraEnv = []string{"HOME=" + tdir, "XDG_DATA_HOME=" + tdir, "XDG_CONFIG_HOME=" + tdir}
	default:
		return nil, fmt.Errorf("cannot start target %q: unknown kind %v", t.Name, t.Kind)
	}
	path, err := lookBin(bin)
	if err != nil {
		if t.Kind == kindTollgate {
			return nil, fmt.Errorf("cannot find tollgate binary %q: %w", bin, err)
		}
		return nil, skipError{fmt.Sprintf("%s is not installed (run scripts/bench-deps.sh)", bin)}
	}
	cfg, err := renderConfig(t.Name, tmpl, env)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tdir, file), []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write %s config: %w", t.Name, err)
	}
	p, err := startProc(t.Name, tdir, extraEnv, path, args...)
	if err != nil {
		return nil, err
	}
	*procs = append(*procs, p)
	rt.proc = p
	rt.addr = listen
	rt.url = "http://" + listen + t.Request.Path
	if err := waitReady(ctx, p, "http://"+listen, rt.target.Request); err != nil {
		return nil, err
	}
	return rt, nil
}

// configOf returns the target's config template (its own Config, else its
// kind's) and the name of the file it is written to.
func configOf(t target) (tmpl, file string) {
	switch t.Kind {
	case kindTollgate:
		return t.Config, "tollgate.yaml"
	case kindNginx:
		return cmp.Or(t.Config, nginxConfig), "nginx.conf"
	case kindHAProxy:
		return cmp.Or(t.Config, haproxyConfig), "haproxy.cfg"
	case kindCaddy:
		return cmp.Or(t.Config, caddyConfig), "caddy.json"
	}
	return "", ""
}

// lookBin finds bin on PATH or in the sbin directories, where Debian puts
// nginx and haproxy and which a non-root PATH may lack.
func lookBin(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return filepath.Abs(p)
	}
	if !strings.Contains(bin, "/") {
		for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
			p := filepath.Join(d, bin)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("cannot find executable %q", bin)
}

// readyTimeout bounds how long a target may take to answer after start.
const readyTimeout = 20 * time.Second

// waitReady polls base+req.Path until it answers 2xx (and, for GET /bench,
// the upstream's fixed body; for POST orders, a created order), the process
// exits, or readyTimeout passes.
func waitReady(ctx context.Context, p *proc, base string, req request) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(readyTimeout)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var last string
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if p != nil && !p.running() {
			return fmt.Errorf("cannot start: exited (%v); log:\n%s", p.waitErr, p.logTail(20))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		hr, err := http.NewRequestWithContext(ctx, method, base+req.Path, strings.NewReader(req.Body))
		if err != nil {
			return fmt.Errorf("cannot build readiness request: %w", err)
		}
		for _, h := range req.Headers {
			if k, v, ok := strings.Cut(h, ":"); ok {
				hr.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		resp, err := c.Do(hr)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			switch {
			case resp.StatusCode/100 != 2:
				last = fmt.Sprintf("answered %d: %.200s", resp.StatusCode, body)
			case req.Path == "/bench" && method == http.MethodGet && string(body) != upstream.BenchBody,
				req.Path == orderPath && method == http.MethodPost && !strings.Contains(string(body), `"status":"created"`):
				last = fmt.Sprintf("answered an unexpected body: %.200q", body)
			default:
				return nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(min(50*time.Millisecond*time.Duration(attempt+1), 500*time.Millisecond))
	}
	msg := fmt.Sprintf("cannot start: not ready after %v (last: %s)", readyTimeout, last)
	if p != nil {
		msg += "; log:\n" + p.logTail(20)
	}
	return errors.New(msg)
}

// runResult is one measured run of one target.
type runResult struct {
	wrk      wrkResult
	proxyCPU time.Duration // -1 when there is no proxy process
	upCPU    time.Duration // -1 when unknown
}

// measure runs the warm-up, then the measured run with CPU time read
// around it.
func measure(ctx context.Context, spec loadSpec, warmup time.Duration, rt *runTarget, up *proc, inproc bool, tick time.Duration) (runResult, error) {
	if warmup > 0 {
		if _, err := runWrk(ctx, spec, rt.script, rt.url, warmup); err != nil {
			return runResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu := func(p *proc) (time.Duration, error) {
		if p == nil {
			return -1, nil
		}
		u, err := readTree(p.pid(), tick)
		return u.cpu, err
	}
	upCPU := func() (time.Duration, error) {
		if inproc {
			// loadbench only waits for wrk meanwhile: its own CPU time
			// is the upstream's.
			return selfCPU(tick)
		}
		return cpu(up)
	}
	p0, err1 := cpu(rt.proc)
	u0, err2 := upCPU()
	if err := errors.Join(err1, err2); err != nil {
		return runResult{}, err
	}
	res, err := runWrk(ctx, spec, rt.script, rt.url, spec.Duration)
	if err != nil {
		return runResult{}, err
	}
	p1, err1 := cpu(rt.proc)
	u1, err2 := upCPU()
	if err := errors.Join(err1, err2); err != nil {
		return runResult{}, err
	}
	out := runResult{wrk: res, proxyCPU: -1, upCPU: -1}
	if rt.proc != nil {
		out.proxyCPU = p1 - p0
	}
	if up != nil || inproc {
		out.upCPU = u1 - u0
	}
	if res.Requests == 0 {
		return out, errors.New("wrk completed no request")
	}
	return out, nil
}
