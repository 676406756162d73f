package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

func testEnv(t *testing.T) configEnv {
	return configEnv{
		Dir:      t.TempDir(),
		Listen:   "127.0.0.1:18080",
		Admin:    "127.0.0.1:18081",
		Upstream: "127.0.0.1:19000",
		Postgres: "postgres://postgres@127.0.0.1:15432/postgres?sslmode=disable",
		Root:     isRoot(),
	}
}

// writeConfig prepares tg into e.Dir as startTarget does (key material,
// request headers), renders its config there and returns the file and the
// request wrk would send.
func writeConfig(t *testing.T, tg target, e configEnv) (string, request) {
	t.Helper()
	req := tg.Request
	req.Headers = slices.Clone(req.Headers)
	if req.Path == "" {
		req.Path = "/bench"
	}
	if tg.Prepare != nil {
		if err := tg.Prepare(e.Dir, &req); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, file := configOf(tg)
	s, err := renderConfig(tg.Name, tmpl, e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "<no value>") {
		t.Fatalf("config has an unrendered field:\n%s", s)
	}
	p := filepath.Join(e.Dir, file)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, req
}

// TestTollgateConfigsValidate loads every Tollgate row's config as
// "tollgate check -c FILE" does, then routes the row's own request (token,
// body and all) and runs the route's filter chain on it: the row must
// measure forwarding, not refusals.
func TestTollgateConfigsValidate(t *testing.T) {
	for _, tg := range targets {
		if tg.Kind != kindTollgate {
			continue
		}
		t.Run(tg.Name, func(t *testing.T) {
			e := testEnv(t)
			if tg.Redis {
				e.Redis = testredis.Start(t).Addr
			}
			path, req := writeConfig(t, tg, e)
			// proxy.Load is "tollgate check": strict decoding, defaults,
			// validation, and every filter built from its config.
			cfg, rt, err := proxy.Load(path, nil)
			if err != nil {
				b, _ := os.ReadFile(path)
				t.Fatalf("Tollgate rejects the config: %v\n%s", err, b)
			}
			if len(cfg.Listeners) != 1 || cfg.Listeners[0].Listen != e.Listen || cfg.Admin.Listen != e.Admin {
				t.Fatalf("listeners %+v admin %+v", cfg.Listeners, cfg.Admin)
			}
			// The engine is the one the name says; neither means the default.
			wantEngine := ""
			for _, eng := range []string{"fasthttp", "gnet"} {
				if strings.Contains(tg.Name, eng) {
					wantEngine = eng
				}
			}
			if got := cfg.Listeners[0].Engine; got != wantEngine && !(wantEngine == "" && got == config.DefaultEngine) {
				t.Fatalf("row %s runs on engine %q, want %q", tg.Name, got, wantEngine)
			}
			if len(cfg.Upstreams) != 1 || len(cfg.Upstreams[0].Targets) != 1 || cfg.Upstreams[0].Targets[0] != e.Upstream {
				t.Fatalf("upstreams %+v", cfg.Upstreams)
			}
			if strings.Contains(tg.Name, "-full") != (cfg.Audit != nil && len(cfg.Routes[0].Filters) == 4) {
				t.Fatalf("row %s: audit %+v, filters %+v", tg.Name, cfg.Audit, cfg.Routes[0].Filters)
			}

			ex := filtertest.NewExchange(req.method(), req.Path, nil, []byte(req.Body))
			defer filters.ReleaseExchange(ex)
			for _, h := range req.Headers {
				k, v, _ := strings.Cut(h, ":")
				ex.SetHeader(strings.TrimSpace(k), []byte(strings.TrimSpace(v)))
			}
			id, res := rt.Router.Lookup(ex.Host, ex.Method, ex.Path, &ex.Params)
			if res != router.Found {
				t.Fatalf("no route for %s %s: %v", req.method(), req.Path, res)
			}
			r := rt.Routes[id]
			if r.Info.Upstream != cfg.Upstreams[0].Name {
				t.Fatalf("route %s goes to %s", r.Info.Name, r.Info.Upstream)
			}
			ex.Route = &r.Info
			if v := r.Chain.Run(ex); !v.IsContinue() {
				t.Fatalf("route %s refuses the row's request: %d %s", r.Info.Name, v.Reason().Status, v.Reason().Code)
			}
			r.Chain.Finish(ex)
		})
	}
}

func TestRenderConfig(t *testing.T) {
	e := testEnv(t)
	for name, tmpl := range map[string]string{"nginx": nginxConfig, "haproxy": haproxyConfig, "caddy": caddyConfig, "tollgate": tollgatePlain} {
		s, err := renderConfig(name, tmpl, e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(s, e.Listen) || !strings.Contains(s, e.Upstream) || strings.Contains(s, "<no value>") {
			t.Fatalf("%s config lacks an address:\n%s", name, s)
		}
		if strings.Contains(s, "0.0.0.0") || strings.Contains(s, "[::]") {
			t.Fatalf("%s config binds beyond loopback:\n%s", name, s)
		}
	}
	if _, err := renderConfig("bad", "{{.Nope}}", e); err == nil {
		t.Fatal("unknown field rendered")
	}
	if _, err := renderConfig("bad", "{{", e); err == nil {
		t.Fatal("bad template parsed")
	}
}

// TestPeerConfigsValidate asks each installed peer to check the config of
// every row it serves.
func TestPeerConfigsValidate(t *testing.T) {
	checks := map[kind]func(e configEnv, path string) []string{
		kindNginx: func(e configEnv, p string) []string {
			return []string{"-t", "-q", "-p", e.Dir, "-e", filepath.Join(e.Dir, "error.log"), "-c", p}
		},
		kindHAProxy: func(_ configEnv, p string) []string { return []string{"-c", "-q", "-f", p} },
		kindCaddy:   func(_ configEnv, p string) []string { return []string{"validate", "--config", p} },
	}
	for _, tg := range targets {
		args, ok := checks[tg.Kind]
		if !ok {
			continue
		}
		t.Run(tg.Name, func(t *testing.T) {
			bin, err := lookBin(tg.Kind.String())
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not installed; .ci/run installs it (scripts/bench-deps.sh)", tg.Kind)
				}
				t.Skipf("SKIP: %s is not installed (scripts/bench-deps.sh installs it); its configs are not checked", tg.Kind)
			}
			e := testEnv(t)
			p, _ := writeConfig(t, tg, e)
			cmd := exec.Command(bin, args(e, p)...)
			cmd.Env = append(os.Environ(), "HOME="+e.Dir, "XDG_DATA_HOME="+e.Dir, "XDG_CONFIG_HOME="+e.Dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				b, _ := os.ReadFile(p)
				t.Fatalf("%s rejects its config: %v\n%s\n%s", tg.Kind, err, out.String(), b)
			}
		})
	}
}

func TestSelectTargets(t *testing.T) {
	f := func(list string, want ...string) {
		t.Helper()
		got, err := selectTargets(list)
		if err != nil {
			t.Fatalf("selectTargets(%q): %v", list, err)
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("selectTargets(%q) = %v, want %v", list, names, want)
		}
	}
	f("", "direct", "tollgate", "tollgate-gnet", "tollgate-jwt-rbac", "tollgate-jwt-rbac-nocache", "haproxy-jwt", "tollgate-apikey-rbac", "tollgate-audit-process", "nginx", "haproxy", "caddy")
	f("nginx,direct", "nginx", "direct")
	f(" caddy , caddy,", "caddy")
	f("pipeline",
		"tollgate-fasthttp", "tollgate-gnet", "tollgate-fasthttp-full-get", "tollgate-gnet-full-get", "nginx", "haproxy-full-get",
		"tollgate-fasthttp-post", "tollgate-gnet-post", "tollgate-fasthttp-full-post", "tollgate-gnet-full-post", "nginx-post", "haproxy-full-post")
	f("direct,pipeline,nginx,direct-post", append([]string{"direct"}, append(presets["pipeline"], "direct-post")...)...)
	for _, bad := range []string{"nope", ",", "direct,apache"} {
		if _, err := selectTargets(bad); err == nil {
			t.Fatalf("selectTargets(%q) succeeded", bad)
		}
	}
	names := map[string]bool{}
	for _, tg := range targets {
		if names[tg.Name] || tg.Name == "" || strings.ContainsAny(tg.Name, ", ") {
			t.Fatalf("target name %q is empty, repeated or has a separator", tg.Name)
		}
		names[tg.Name] = true
		if tg.Kind == kindTollgate && tg.Config == "" {
			t.Fatalf("tollgate target %q has no config", tg.Name)
		}
		if _, ok := presets[tg.Name]; ok {
			t.Fatalf("target %q has a preset's name", tg.Name)
		}
	}
	for name, rows := range presets {
		for _, r := range rows {
			if !names[r] {
				t.Fatalf("preset %s names unknown target %q", name, r)
			}
		}
	}
	// Each peer has at most one row per method: ratios must not depend on
	// which of two rows came last.
	peers := map[peerKey]string{}
	for _, tg := range targets {
		if tg.Peer == "" {
			continue
		}
		k := peerKey{tg.Peer, tg.Request.method()}
		if other, ok := peers[k]; ok {
			t.Fatalf("rows %s and %s are both the %s peer for %s", other, tg.Name, k.peer, k.method)
		}
		peers[k] = tg.Name
	}
	for _, rc := range ratioColumns {
		for _, m := range []string{"GET", "POST"} {
			if _, ok := peers[peerKey{rc.peer, m}]; !ok {
				t.Fatalf("column %q has no %s peer row", rc.header, m)
			}
		}
	}
}

// TestRowsSendTheirMethod keeps names and requests in step: a "-post" row
// sends the order, every other row GET /bench, and so rows with one method
// compare with that method's peers.
func TestRowsSendTheirMethod(t *testing.T) {
	for _, tg := range targets {
		post := strings.HasSuffix(tg.Name, "-post")
		r := tg.Request
		if post != (r.method() == "POST") || post != (r.Path == orderPath && r.Body == benchOrder) || (!post && r.Path != "" && r.Path != "/bench") {
			t.Errorf("row %s sends %s %q with a %d-byte body", tg.Name, r.method(), r.Path, len(r.Body))
		}
	}
	if n := len(benchOrder); n < 90 || n > 120 || !json.Valid([]byte(benchOrder)) {
		t.Fatalf("benchOrder is %d bytes, valid JSON %v: want about 100 bytes of JSON", n, json.Valid([]byte(benchOrder)))
	}
}

func TestOnEngine(t *testing.T) {
	if got := onEngine("gnet", tollgatePlain); !strings.Contains(got, `listen: "{{.Listen}}", engine: gnet}]`) {
		t.Fatalf("onEngine did not pin the listener:\n%s", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("onEngine accepted a config without tollgateHead's listener")
		}
	}()
	onEngine("gnet", "listeners: []\n")
}

// TestAuditOffRows keeps the audit rows' bases honest: each names a row
// that exists, sends the same request and renders the same config without
// the audit log (so it runs on the same engine), and the audit preset
// holds each audit row with its base.
func TestAuditOffRows(t *testing.T) {
	byName := map[string]target{}
	for _, tg := range targets {
		byName[tg.Name] = tg
	}
	n := 0
	for _, tg := range targets {
		if tg.AuditOff == "" {
			if strings.Contains(tg.Name, "audit") {
				t.Errorf("row %s has no audit-off row", tg.Name)
			}
			continue
		}
		n++
		off, ok := byName[tg.AuditOff]
		if !ok {
			t.Fatalf("row %s: audit-off row %q does not exist", tg.Name, tg.AuditOff)
		}
		if off.Kind != tg.Kind || off.Request.method() != tg.Request.method() || off.Request.Path != tg.Request.Path {
			t.Errorf("row %s sends another request than its audit-off row %s", tg.Name, off.Name)
		}
		if strings.Contains(off.Config, "audit:") || !strings.Contains(tg.Config, "audit:") {
			t.Errorf("row %s / %s: the audit log is not what tells them apart", tg.Name, off.Name)
		}
		// Without its audit line and comment, the audit row is its base.
		var kept []string
		for _, line := range strings.Split(tg.Config, "\n") {
			if !strings.HasPrefix(line, "audit:") && !strings.HasPrefix(line, "#") {
				kept = append(kept, line)
			}
		}
		var base []string
		for _, line := range strings.Split(off.Config, "\n") {
			if !strings.HasPrefix(line, "#") {
				base = append(base, line)
			}
		}
		if strings.Join(kept, "\n") != strings.Join(base, "\n") {
			t.Errorf("row %s is not row %s with the audit log on", tg.Name, off.Name)
		}
	}
	if n == 0 {
		t.Fatal("no audit rows")
	}
	preset := presets["audit"]
	for i := 0; i+1 < len(preset); i += 2 {
		if byName[preset[i+1]].AuditOff != preset[i] {
			t.Errorf("audit preset: %s is not followed by its audit row (got %s)", preset[i], preset[i+1])
		}
	}
}
