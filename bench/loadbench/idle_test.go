package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tollgate-proxy/tollgate/bench/upstream"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
)

// cannotRun skips a test that cannot run here, saying why, and fails it
// instead when CI is set: in CI every test must run.
func cannotRun(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run (CI is set, so this fails instead of skipping): %s", msg)
	}
	t.Skipf("SKIP: %s", msg)
}

func TestIdleFlags(t *testing.T) {
	f := func(code int, args ...string) options {
		t.Helper()
		var stderr bytes.Buffer
		o, got := parseFlags(args, &stderr)
		if got != code {
			t.Fatalf("parseFlags(%q) code %d, want %d; stderr %s", args, got, code, stderr.String())
		}
		return o
	}
	o := f(-1, "--tollgate", "bin/tollgate", "--idle", "10000")
	if o.Idle != 10000 || o.IdleWait != 2*time.Second || o.Targets != "idle" {
		t.Fatalf("idle defaults %+v", o)
	}
	if o.Command != "loadbench --tollgate bin/tollgate --idle 10000" {
		t.Fatalf("command %q", o.Command)
	}
	sel, err := selectTargets(o.Targets)
	if err != nil || len(sel) != 4 || sel[0].Name != "tollgate-gnet" || sel[1].Name != "tollgate-fasthttp" || sel[2].Name != "nginx" || sel[3].Name != "haproxy" {
		t.Fatalf("idle targets %v, %v", sel, err)
	}
	o = f(-1, "--tollgate", "x", "--idle", "500", "--idle-wait", "500ms", "--targets", "tollgate-gnet", "--timeout", "2s")
	if o.Idle != 500 || o.IdleWait != 500*time.Millisecond || o.Targets != "tollgate-gnet" || o.Timeout != 2*time.Second {
		t.Fatalf("idle options %+v", o)
	}
	if o := f(-1, "--tollgate", "x"); o.Idle != 0 || o.Targets != "" {
		t.Fatalf("load-run options %+v", o)
	}
	f(-1, "--idle", "10", "--upstream", "inproc", "--targets", "nginx,haproxy") // no tollgate binary needed
	f(-1, "--tollgate", "x", "--idle", "10", "--idle-wait", "0s")
	f(2, "--idle", "10", "--upstream", "inproc") // the idle preset has Tollgate rows
	f(2, "--tollgate", "x", "--idle", "-1")
	f(2, "--tollgate", "x", "--idle", fmt.Sprint(maxIdle+1))
	f(2, "--tollgate", "x", "--idle", "ten")
	f(2, "--tollgate", "x", "--idle-wait", "1s") // without --idle
	f(2, "--tollgate", "x", "--idle", "10", "--idle-wait", "30s")
	f(2, "--tollgate", "x", "--idle", "10", "--idle-wait", "-1s")
	f(2, "--tollgate", "x", "--idle", "10", "--targets", "direct")
	f(2, "--tollgate", "x", "--idle", "10", "--targets", "nginx,direct-post")
	for _, load := range [][]string{{"--duration", "5s"}, {"--rounds", "3"}, {"--threads", "1"}, {"--connections", "8"}, {"--warmup", "0s"}, {"--wrk", "wrk"}} {
		var stderr bytes.Buffer
		if _, code := parseFlags(append([]string{"--tollgate", "x", "--idle", "10"}, load...), &stderr); code != 2 || !strings.Contains(stderr.String(), "applies only to load runs") {
			t.Fatalf("--idle with %v: code %d, stderr %s", load, code, stderr.String())
		}
	}
}

func TestRawRequest(t *testing.T) {
	b, err := rawRequest(request{Path: "/bench"}, "127.0.0.1:8080")
	if err != nil || string(b) != "GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n" {
		t.Fatalf("rawRequest = %q, %v", b, err)
	}
	b, err = rawRequest(request{Method: "POST", Path: orderPath, Headers: []string{"Content-Type: application/json", "Authorization:  Bearer t "}, Body: benchOrder}, "h:1")
	want := "POST " + orderPath + " HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\nAuthorization: Bearer t\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(benchOrder)) + benchOrder
	if err != nil || string(b) != want {
		t.Fatalf("rawRequest = %q, %v; want %q", b, err, want)
	}
	for _, bad := range []request{
		{Path: ""},
		{Path: "/a b"},
		{Path: "/x\r\nEvil: 1"},
		{Path: "/bench", Headers: []string{"NoColon"}},
		{Path: "/bench", Headers: []string{"X: 1\r\nY: 2"}},
		{Path: "/bench", Method: "GE T"},
	} {
		if b, err := rawRequest(bad, "h:1"); err == nil {
			t.Fatalf("rawRequest(%+v) = %q, want an error", bad, b)
		}
	}
}

func TestReadResponse(t *testing.T) {
	body := upstream.BenchBody
	ok := "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	good := func(name, resp string, bufSize int, slow bool) {
		t.Helper()
		var r io.Reader = strings.NewReader(resp)
		if slow {
			r = iotest.OneByteReader(r)
		}
		if err := readResponse(r, make([]byte, bufSize)); err != nil {
			t.Fatalf("%s: readResponse: %v", name, err)
		}
	}
	good("bench", ok, idleBufSize, false)
	good("byte by byte", ok, idleBufSize, true)
	good("body through a small buffer", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 1000), 64, false)
	good("empty body", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 64, false)
	good("201", "HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", 128, true)
	good("204", "HTTP/1.1 204 No Content\r\n\r\n", 64, false)

	// readResponse leaves what follows the body unread.
	r := strings.NewReader(ok + "NEXT")
	if err := readResponse(r, make([]byte, 16+len(ok)-len(body))); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "NEXT" {
		t.Fatalf("left %q", rest)
	}

	bad := func(name, resp string, bufSize int, want string) {
		t.Helper()
		err := readResponse(strings.NewReader(resp), make([]byte, bufSize))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: readResponse = %v, want an error with %q", name, err, want)
		}
	}
	bad("404", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 128, "answered 404")
	bad("503", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 128, "answered 503")
	bad("HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 128, "want HTTP/1.1")
	bad("close", "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", 128, "Connection: close")
	bad("close among tokens", "HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 0\r\n\r\n", 128, "Connection: close")
	bad("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 128, "Transfer-Encoding")
	bad("no length", "HTTP/1.1 200 OK\r\n\r\n", 128, "without a Content-Length")
	bad("bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 128, "Content-Length")
	bad("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 128, "Content-Length")
	bad("garbage status", "HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n", 128, "status line")
	bad("bad header", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", 128, "header line")
	bad("head too large", "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("y", 200)+"\r\n\r\n", 128, "exceeds 128 bytes")
	bad("short head", "HTTP/1.1 200 OK\r\nContent-Le", 128, "unexpected EOF")
	bad("short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 128, "3 of 10 bytes")
	bad("extra bytes", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxyz", 128, "2 bytes past")
}

func TestParsePortRange(t *testing.T) {
	if n, err := parsePortRange([]byte("32768\t60999\n")); err != nil || n != 28232 {
		t.Fatalf("parsePortRange = %d, %v", n, err)
	}
	for _, bad := range []string{"", "1", "a b", "600 500", "0 10", "1 2 3"} {
		if n, err := parsePortRange([]byte(bad)); err == nil {
			t.Fatalf("parsePortRange(%q) = %d, want an error", bad, n)
		}
	}
}

func TestReserveFDs(t *testing.T) {
	if err := reserveFDs(16); err != nil {
		t.Fatalf("reserveFDs(16): %v", err)
	}
	// More than any kernel allows (fs.nr_open is at most about 2^30).
	err := reserveFDs(1 << 30)
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") || !strings.Contains(err.Error(), "lower --idle") {
		t.Fatalf("reserveFDs(1<<30) = %v, want a clear error", err)
	}
}

func idleRes(beforeMiB, afterMiB float64, n int) idleResult {
	return idleResult{
		before: treeUsage{rss: uint64(beforeMiB * (1 << 20))},
		after:  treeUsage{rss: uint64(afterMiB * (1 << 20)), hwm: uint64(afterMiB*(1<<20)) + 1<<20},
		opened: n, held: n,
	}
}

func TestIdleKiBPerConn(t *testing.T) {
	f := func(r idleResult, want float64) {
		t.Helper()
		if got := r.kibPerConn(); got != want {
			t.Fatalf("kibPerConn(%+v) = %v, want %v", r, got, want)
		}
	}
	f(idleRes(18, 28, 10240), 1)        // 10 MiB over 10240 connections
	f(idleRes(20, 232.5, 10000), 21.76) // (212.5 MiB = 217600 KiB) / 10000
	f(idleRes(20, 18, 1024), -2)        // the target returned memory
	f(idleRes(20, 19, 0), -1)           // nothing opened
	f(idleResult{before: treeUsage{rss: 4096}, after: treeUsage{rss: 4096 + 3*1024}, opened: 2}, 1.5)
}

func TestSettled(t *testing.T) {
	u := func(procs int, rss uint64) treeUsage { return treeUsage{procs: procs, rss: rss} }
	f := func(a, b treeUsage, want bool) {
		t.Helper()
		if got := settled(a, b); got != want {
			t.Fatalf("settled(%+v, %+v) = %v, want %v", a, b, got, want)
		}
	}
	f(u(3, 20<<20), u(3, 20<<20), true)
	f(u(3, 20<<20), u(3, 20<<20+100<<10), true) // within 1%
	f(u(3, 20<<20+100<<10), u(3, 20<<20), true)
	f(u(3, 20<<20), u(3, 21<<20), false)
	f(u(2, 16<<20), u(3, 16<<20), false) // a worker started
	f(u(1, 1<<20), u(1, 1<<20+64<<10), true)
	f(u(1, 1<<20), u(1, 1<<20+65<<10), false)
}

func testIdleReport() *idleReport {
	return &idleReport{
		opts: options{Idle: 10000, IdleWait: 2 * time.Second, Upstream: "process", Command: "loadbench --idle 10000"},
		rows: []*idleRow{
			{target: target{Name: "tollgate-gnet", Kind: kindTollgate}, res: idleRes(18.6, 27.3, 10000)},
			{target: target{Name: "tollgate-fasthttp", Kind: kindTollgate}, res: idleRes(19, 231, 10000)},
			{target: target{Name: "nginx", Kind: kindNginx, Peer: "nginx"}, res: idleRes(20, 30, 10000)},
			{target: target{Name: "haproxy", Kind: kindHAProxy}, status: "failed: cannot start: exited\nlog line"},
			{target: target{Name: "caddy", Kind: kindCaddy}, status: "skipped: caddy is not installed"},
		},
		machine: machine{cpus: 2, cpuModel: "Test CPU", kernel: "6.1", versions: []string{"Go go1.26", "nginx/1.22.1"}, loadavg: "0.10 0.20 0.30"},
		when:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestIdleReport(t *testing.T) {
	rep := testIdleReport()
	cols := rep.columns()
	byName := map[string][]string{}
	for _, c := range rep.cells() {
		if len(c) != len(cols) {
			t.Fatalf("row %v has %d cells, want %d", c, len(c), len(cols))
		}
		byName[c[0]] = c
	}
	f := func(target, column, want string) {
		t.Helper()
		for i, c := range cols {
			if c == column {
				if got := byName[target][i]; got != want {
					t.Fatalf("%s / %s = %q, want %q", target, column, got, want)
				}
				return
			}
		}
		t.Fatalf("no column %q in %q", column, cols)
	}
	f("tollgate-gnet", "RSS before", "18.6 MiB")
	f("tollgate-gnet", "RSS with 10000 idle", "27.3 MiB")
	f("tollgate-gnet", "KiB/conn", "0.9")
	f("tollgate-gnet", "peak RSS", "28.3 MiB")
	f("tollgate-gnet", "held", "10000")
	f("tollgate-gnet", "RSS ×nginx", "0.91")
	f("tollgate-gnet", "KiB/conn ×nginx", "0.87")
	f("tollgate-fasthttp", "KiB/conn", "21.7")
	f("tollgate-fasthttp", "RSS ×nginx", "7.70")
	f("tollgate-fasthttp", "KiB/conn ×nginx", "21.20")
	f("nginx", "RSS ×nginx", "1.00")
	f("haproxy", "RSS before", "failed: cannot start: exited …")
	f("caddy", "RSS before", "skipped: caddy is not installed")

	// Without nginx, no ratio.
	rep.rows = rep.rows[:2]
	for _, c := range rep.cells() {
		if c[len(c)-1] != "-" || c[len(c)-2] != "-" {
			t.Fatalf("ratios without nginx: %v", c)
		}
	}

	rep = testIdleReport()
	var tb bytes.Buffer
	rep.writeTable(&tb)
	for _, want := range []string{"idle: 10000 keep-alive connections per target", "tollgate-gnet", "27.3 MiB", "skipped: caddy is not installed"} {
		if !strings.Contains(tb.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, tb.String())
		}
	}
	md := string(rep.markdown())
	for _, want := range []string{
		"## Idle keep-alive connections (2026-01-02)",
		"| target | RSS before | RSS with 10000 idle | KiB/conn | peak RSS | held | RSS ×nginx | KiB/conn ×nginx |",
		"| tollgate-gnet | 18.6 MiB | 27.3 MiB | 0.9 | 28.3 MiB | 10000 | 0.91 | 0.87 |",
		"held idle for 2s",
		"worker_connections` (10512)",
		"`maxconn` (10256",
		"- Machine: 2 CPUs, Test CPU, Linux 6.1.",
		"- Command: `loadbench --idle 10000`",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, " |") != len(cols) {
			t.Fatalf("line %q has %d cells, want %d", line, strings.Count(line, " |"), len(cols))
		}
	}
}

// TestOpenIdle drives the client side against a local HTTP server: every
// connection gets its response and stays open, and countHeld sees the
// server close them.
func TestOpenIdle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bench" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, upstream.BenchBody)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	req, err := rawRequest(request{Path: "/bench"}, addr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	conns, err := openIdle(context.Background(), addr, req, n, 5*time.Second, nil)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil || len(conns) != n {
		t.Fatalf("openIdle: %d connections, %v", len(conns), err)
	}
	if held := countHeld(conns); held != n {
		t.Fatalf("countHeld = %d right after opening, want %d", held, n)
	}
	srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for countHeld(conns) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("countHeld = %d after the server closed every connection", countHeld(conns))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A refusal stops the opening with the connection's number.
	bad, err := rawRequest(request{Path: "/nope"}, addr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openIdle(context.Background(), addr, bad, 3, 5*time.Second, nil)
	if err == nil || len(got) != 0 || !strings.Contains(err.Error(), "connection 1: answered 404") {
		t.Fatalf("openIdle on a 404 = %d connections, %v", len(got), err)
	}
}

// TestOpenIdleTimeout: a target that accepts but never answers (as one
// past its connection limit does) fails the opening within the timeout.
func TestOpenIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	addr := ln.Addr().String()
	req, _ := rawRequest(request{Path: "/bench"}, addr)
	begin := time.Now()
	conns, err := openIdle(context.Background(), addr, req, 2, 200*time.Millisecond, nil)
	if err == nil || len(conns) != 0 || !strings.Contains(err.Error(), "no whole response within 200ms") {
		t.Fatalf("openIdle = %d connections, %v", len(conns), err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Fatalf("openIdle took %v", took)
	}
}

// TestIdleConfigs renders each row of the idle preset with room for 10000
// idle clients: Tollgate accepts its config (as "tollgate check" does) with
// the listener's max_connections raised and its engine kept, and nginx and
// HAProxy, when installed, accept theirs. Load runs keep the old limits.
func TestIdleConfigs(t *testing.T) {
	for _, name := range presets["idle"] {
		tg, _ := findTarget(name)
		t.Run(name, func(t *testing.T) {
			e := testEnv(t)
			e.MaxClients = 10000 + idleHeadroom
			path, _ := writeConfig(t, tg, e)
			b, _ := os.ReadFile(path)
			switch tg.Kind {
			case kindTollgate:
				cfg, _, err := proxy.Load(path, nil)
				if err != nil {
					t.Fatalf("Tollgate rejects the config: %v\n%s", err, b)
				}
				l := cfg.Listeners[0]
				if l.MaxConnections != e.MaxClients || !strings.HasSuffix(name, l.Engine) || l.IdleTimeout.D() < time.Minute {
					t.Fatalf("listener %+v", l)
				}
				e.MaxClients = 0
				path, _ = writeConfig(t, tg, e)
				if cfg, _, err = proxy.Load(path, nil); err != nil || cfg.Listeners[0].MaxConnections != config.DefaultMaxConnections {
					t.Fatalf("load-run config: %v, %+v", err, cfg)
				}
				return
			case kindNginx:
				for _, want := range []string{"worker_connections 10512;", "worker_rlimit_nofile 10576;"} {
					if !strings.Contains(string(b), want) {
						t.Fatalf("nginx config lacks %q:\n%s", want, b)
					}
				}
			case kindHAProxy:
				if !strings.Contains(string(b), "maxconn 10256\n    no strict-limits\n") {
					t.Fatalf("HAProxy config lacks its idle limits:\n%s", b)
				}
			}
			bin, err := lookBin(tg.Kind.String())
			if err != nil {
				cannotRun(t, "%s is not installed (scripts/bench-deps.sh installs it); its idle config is not checked", tg.Kind)
			}
			args := []string{"-c", "-q", "-f", path}
			if tg.Kind == kindNginx {
				args = []string{"-t", "-q", "-p", e.Dir, "-e", filepath.Join(e.Dir, "error.log"), "-c", path}
			}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("%s rejects its idle config: %v\n%s\n%s", tg.Kind, err, out, b)
			}
		})
	}
	e := testEnv(t)
	nginx, _ := renderConfig("nginx", nginxConfig, e)
	haproxy, _ := renderConfig("haproxy", haproxyConfig, e)
	if !strings.Contains(nginx, "worker_connections 4096;") || strings.Contains(nginx, "worker_rlimit_nofile") ||
		!strings.Contains(haproxy, "maxconn 4096\n\ndefaults") {
		t.Fatalf("load-run configs changed:\n%s\n%s", nginx, haproxy)
	}
}

// buildTollgate builds cmd/tollgate from this module into a temporary
// directory (seconds with a warm build cache).
func buildTollgate(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		cannotRun(t, "go is not on PATH, so cmd/tollgate cannot be built")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no module root at %s: %v", root, err)
	}
	bin := filepath.Join(t.TempDir(), "tollgate")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/tollgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build cmd/tollgate: %v\n%s", err, out)
	}
	return bin
}

// TestIdleRealTollgate runs the idle measurement for real against the
// tollgate binary built from this module, on the gnet engine, with 500
// connections: the RSS is read, every connection opened and held, and no
// process outlives the run.
func TestIdleRealTollgate(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: this test builds cmd/tollgate and holds 500 connections to it")
	}
	bin := buildTollgate(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the work directory, hence every config path, is under tmp
	var stderr bytes.Buffer
	o, code := parseFlags([]string{"--tollgate", bin, "--idle", "500", "--idle-wait", "500ms", "--targets", "tollgate-gnet"}, &stderr)
	if code != -1 {
		t.Fatalf("parseFlags: %d\n%s", code, stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := idleBench(ctx, o, &stderr)
	if err != nil {
		t.Fatalf("idleBench: %v\nstderr:\n%s", err, stderr.String())
	}
	if len(rep.rows) != 1 {
		t.Fatalf("%d rows", len(rep.rows))
	}
	r := rep.rows[0]
	if r.status != "" {
		t.Fatalf("tollgate-gnet: %s\nstderr:\n%s", r.status, stderr.String())
	}
	res := r.res
	if res.opened != 500 || res.held != 500 {
		t.Fatalf("opened %d, held %d, want 500 and 500", res.opened, res.held)
	}
	// A Go process with an event loop: some MiB, well under a GiB.
	for _, u := range []treeUsage{res.before, res.after} {
		if u.procs < 1 || u.rss < 1<<20 || u.rss > 1<<30 {
			t.Fatalf("RSS not read: before %+v, after %+v", res.before, res.after)
		}
	}
	if res.after.hwm < res.after.rss || res.openTime <= 0 {
		t.Fatalf("result %+v", res)
	}
	t.Logf("tollgate-gnet: RSS %s before, %s with 500 idle connections (%.2f KiB each)", fmtMiB(res.before.rss), fmtMiB(res.after.rss), res.kibPerConn())

	var stdout bytes.Buffer
	rep.writeTable(&stdout)
	b := rep.markdown()
	if !strings.Contains(stdout.String(), "RSS with 500 idle") || !strings.Contains(string(b), "| tollgate-gnet | ") || !strings.Contains(string(b), "--idle 500") {
		t.Fatalf("table:\n%s\nmarkdown:\n%s", stdout.String(), b)
	}
	if left := leftovers(t, tmp); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
	if left := leftovers(t, bin); len(left) > 0 {
		t.Fatalf("processes left running:\n%s", strings.Join(left, "\n"))
	}
}
