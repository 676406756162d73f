package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/config"
)

func testEnv(t *testing.T) configEnv {
	return configEnv{
		Dir:      t.TempDir(),
		Listen:   "127.0.0.1:18080",
		Admin:    "127.0.0.1:18081",
		Upstream: "127.0.0.1:19000",
		Root:     isRoot(),
	}
}

func TestTollgateConfigsValidate(t *testing.T) {
	for _, tg := range targets {
		if tg.Kind != kindTollgate {
			continue
		}
		t.Run(tg.Name, func(t *testing.T) {
			e := testEnv(t)
			s, err := renderConfig(tg.Name, tg.Config, e)
			if err != nil {
				t.Fatal(err)
			}
			// Parse decodes strictly, applies defaults and validates: what
			// "tollgate run" does before it serves.
			cfg, err := config.Parse(tg.Name+".yaml", []byte(s), nil)
			if err != nil {
				t.Fatalf("Tollgate rejects the config: %v\n%s", err, s)
			}
			if len(cfg.Listeners) != 1 || cfg.Listeners[0].Listen != e.Listen || cfg.Admin.Listen != e.Admin {
				t.Fatalf("listeners %+v admin %+v", cfg.Listeners, cfg.Admin)
			}
			if strings.Contains(tg.Name, "gnet") != (cfg.Listeners[0].Engine == "gnet") {
				t.Fatalf("row %s runs on engine %q", tg.Name, cfg.Listeners[0].Engine)
			}
			if len(cfg.Upstreams) != 1 || len(cfg.Upstreams[0].Targets) != 1 || cfg.Upstreams[0].Targets[0] != e.Upstream {
				t.Fatalf("upstreams %+v", cfg.Upstreams)
			}
			path := tg.Request.Path
			if path == "" {
				path = "/bench"
			}
			found := false
			for _, r := range cfg.Routes {
				found = found || (r.Path == path && r.Upstream == cfg.Upstreams[0].Name)
			}
			if !found {
				t.Fatalf("no route for %s to %s: %+v", path, cfg.Upstreams[0].Name, cfg.Routes)
			}
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

// TestPeerConfigsValidate asks each installed peer to check its config.
func TestPeerConfigsValidate(t *testing.T) {
	e := testEnv(t)
	checks := []struct {
		bin, tmpl, file string
		args            func(path string) []string
	}{
		{"nginx", nginxConfig, "nginx.conf", func(p string) []string {
			return []string{"-t", "-q", "-p", e.Dir, "-e", filepath.Join(e.Dir, "error.log"), "-c", p}
		}},
		{"haproxy", haproxyConfig, "haproxy.cfg", func(p string) []string { return []string{"-c", "-q", "-f", p} }},
		{"caddy", caddyConfig, "caddy.json", func(p string) []string { return []string{"validate", "--config", p} }},
	}
	for _, c := range checks {
		t.Run(c.bin, func(t *testing.T) {
			bin, err := lookBin(c.bin)
			if err != nil {
				t.Skipf("%s is not installed", c.bin)
			}
			s, err := renderConfig(c.bin, c.tmpl, e)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(e.Dir, c.file)
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, c.args(p)...)
			cmd.Env = append(os.Environ(), "HOME="+e.Dir, "XDG_DATA_HOME="+e.Dir, "XDG_CONFIG_HOME="+e.Dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s rejects its config: %v\n%s\n%s", c.bin, err, out.String(), s)
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
	}
}
