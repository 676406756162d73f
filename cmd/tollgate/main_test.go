package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tollgate")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build tollgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestCheckBundledConfigs(t *testing.T) {
	// The bundled configs read key material that make run (or an
	// operator) creates: check copies pointing at material made here.
	dir := t.TempDir()
	audit := keytest.AuditKey(t, dir)
	jwt := keytest.NewJWT(t, dir)
	cert, key := keytest.TLS(t, dir)
	rewrites := map[string]*strings.Replacer{
		"quickstart.yaml": strings.NewReplacer("data/audit-dev.key", audit, "data/jwt-dev.jwks.json", jwt.JWKSFile),
		"full.yaml": strings.NewReplacer("/etc/tollgate/audit.key", audit, "configs/tls/server.crt", cert,
			"configs/tls/server.key", key, "configs/tls/clients-ca.crt", cert),
	}
	for name, rw := range rewrites {
		raw, err := os.ReadFile("../../configs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(rw.Replace(string(raw))), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runBinary(t, "check", "--strict", "-c", f)
		if code != 0 || !strings.Contains(out, "ok") || !strings.Contains(out, "0 warnings") || errOut != "" {
			t.Errorf("check --strict %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

// TestCheckWarnings: warnings leave the exit status 0 unless --strict, and
// --format json prints one object per finding.
func TestCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	keytest.AuditKey(t, dir)
	t.Setenv("TG_KEYS", dir)
	t.Setenv("TG_AUDIT", filepath.Join(dir, "audit"))
	f := "../../engine/lint/testdata/check/w-unused-role.yaml"
	out, errOut, code := runBinary(t, "check", "-c", f)
	if code != 0 || strings.Count(errOut, ": warning: ") != 3 || !strings.Contains(out, "3 warnings") {
		t.Errorf("check: exit %d, want 0 with three warnings\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runBinary(t, "check", "--strict", "-c", f); code != 1 || strings.Count(errOut, "[unused-role]") != 3 {
		t.Errorf("check --strict: exit %d, want 1 with three warnings\n%s", code, errOut)
	}
	out, _, code = runBinary(t, "check", "--format", "json", "-c", f)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("check --format json: exit %d, want 3 lines\n%s", code, out)
	}
	for _, l := range lines {
		var v struct {
			File, Severity, Kind, Message string
			Line, Col                     int
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.File != f || v.Line == 0 || v.Col == 0 || v.Severity != "warning" || v.Kind != "unused-role" || v.Message == "" {
			t.Errorf("finding %s: %+v %v", l, v, err)
		}
	}
}

func TestCheckReportsEveryErrorWithItsLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	cfg := `listeners:
  - name: public
    listen: 127.0.0.1:8080
    max_conections: 10
upstreams:
  - name: demo
    targets: [127.0.0.1:9000]
routes:
  - name: r
    path: /x
    upstream: nowhere
    filters:
      - name: sizelimit
        config:
          max_byts: 10
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, "check", "-c", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	// The filter's own settings are checked too, although the file has
	// other errors.
	for _, want := range []string{p + ":4:5:", "max_conections", p + ":11:", p + ":15:11:", `unknown key "max_byts"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCheckReportsFilterConfigErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	cfg := `listeners: [{name: public, listen: 127.0.0.1:8080}]
upstreams: [{name: demo, targets: [127.0.0.1:9000]}]
routes:
  - name: r
    path: /x
    upstream: demo
    filters:
      - name: sizelimit
        config:
          max_byts: 10
      - name: no-such-filter
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, "check", "-c", p)
	if code != 1 || !strings.Contains(errOut, p+":10:11:") || !strings.Contains(errOut, `unknown filter "no-such-filter"`) {
		t.Fatalf("exit %d, want 1 with both errors positioned:\n%s", code, errOut)
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	if _, _, code := runBinary(t, "frobnicate"); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d", url, want)
}

// TestSignals runs the real binary on each engine (--engine): SIGHUP
// reloads (a bad file is rejected and the old config kept), SIGTERM
// drains and exits 0.
func TestSignals(t *testing.T) {
	for _, engine := range []string{"gnet", "fasthttp"} {
		t.Run(engine, func(t *testing.T) { signals(t, engine) })
	}
	// An engine that does not exist is a usage error.
	if _, stderr, code := runBinary(t, "run", "--engine", "nginx"); code != 2 || !strings.Contains(stderr, `unknown --engine "nginx"`) {
		t.Fatalf("--engine nginx: exit %d\n%s", code, stderr)
	}
}

func signals(t *testing.T, engine string) {
	upAddr, proxyAddr, adminAddr := freePort(t), freePort(t), freePort(t)
	up := exec.Command(binary, "demo-upstream", "--listen", upAddr)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = up.Process.Kill(); _ = up.Wait() }()

	cfg := func(extraRoute string) string {
		return fmt.Sprintf(`admin: {listen: %q}
listeners: [{name: public, listen: %q}]
upstreams: [{name: demo, targets: [%q]}]
routes:
  - {name: c, methods: [GET], path: "/api/v1/customers/{id}", upstream: demo}
%s`, adminAddr, proxyAddr, upAddr, extraRoute)
	}
	p := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(p, []byte(cfg("")), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	proxy := exec.Command(binary, "run", "-c", p, "--engine", engine)
	proxy.Stderr = &stderr
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proxy.Wait() }()
	defer func() { _ = proxy.Process.Kill() }()

	waitHTTP(t, "http://"+adminAddr+"/readyz", 200)
	waitHTTP(t, "http://"+proxyAddr+"/api/v1/customers/1", 200)
	waitHTTP(t, "http://"+proxyAddr+"/admin/stats", 404)

	// Good reload: a new route appears.
	if err := os.WriteFile(p, []byte(cfg(`  - {name: s, methods: [GET], path: /admin/stats, upstream: demo}`)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = proxy.Process.Signal(syscall.SIGHUP)
	waitHTTP(t, "http://"+proxyAddr+"/admin/stats", 200)

	// Bad reload: rejected, the running config stays.
	if err := os.WriteFile(p, []byte("routes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = proxy.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	waitHTTP(t, "http://"+proxyAddr+"/admin/stats", 200)

	_ = proxy.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("proxy did not exit after SIGTERM")
	}
	log := stderr.String()
	for _, want := range []string{"engine=" + engine, "config reloaded", "config reload rejected", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// The event loop gets a processor to spare (procs.go) unless the
	// environment sets GOMAXPROCS; the goroutine engine keeps the default.
	loops, procs := runtime.NumCPU(), runtime.GOMAXPROCS(0)
	if engine == "fasthttp" {
		loops = 0
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && loops >= procs {
		procs++
	}
	if want := fmt.Sprintf("event_loops=%d gomaxprocs=%d", loops, procs); !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}
