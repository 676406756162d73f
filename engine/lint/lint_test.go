package lint

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/proxy"
	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// env makes the key material the fixtures name (${TG_KEYS}/…) and an audit
// directory (${TG_AUDIT}), and returns the key directory.
func env(t *testing.T) string {
	t.Helper()
	keys := t.TempDir()
	keytest.AuditKey(t, keys)
	keytest.NewJWT(t, keys)
	if err := os.WriteFile(filepath.Join(keys, "garbage.pem"), []byte("not a PEM file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TG_KEYS", keys)
	t.Setenv("TG_AUDIT", filepath.Join(t.TempDir(), "audit"))
	return keys
}

// render is check's text output for a report, with the key directory
// written as $TG_KEYS so the golden files do not depend on it.
func render(rep *Report, keys string) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(strings.ReplaceAll(f.String(), keys, "$TG_KEYS"))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGolden checks every fixture against its golden output: one fixture
// per warning kind, per error kind check positions itself, and one clean
// config that must have no finding at all.
func TestGolden(t *testing.T) {
	keys := env(t)
	files, err := filepath.Glob("testdata/check/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	kinds := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rep := Run(Options{Path: file})
			got := render(rep, keys)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("findings differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
			base := filepath.Base(file)
			switch {
			case strings.HasPrefix(base, "ok-") && len(rep.Findings) > 0:
				t.Errorf("a clean fixture has findings:\n%s", got)
			case strings.HasPrefix(base, "e-") && rep.Errors() == 0:
				t.Errorf("an error fixture has no error")
			case strings.HasPrefix(base, "w-"):
				kind := strings.TrimSuffix(strings.TrimPrefix(base, "w-"), ".yaml")
				if rep.Errors() > 0 || rep.Warnings() == 0 {
					t.Errorf("a warning fixture should have warnings only:\n%s", got)
				}
				for _, f := range rep.Findings {
					if f.Kind != kind {
						t.Errorf("finding of kind %s in the %s fixture: %s", f.Kind, kind, f)
					}
					kinds[f.Kind] = true
				}
			}
			seen := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if seen[line] && line != "" {
					t.Errorf("reported twice: %s", line)
				}
				seen[line] = true
			}
		})
	}
	for _, k := range []string{KindBroadWrite, KindShadowedRule, KindUnusedRole, KindUnusedFilter, KindUnauthenticated, KindRateLimitKey, KindPublicRoute, KindFilterOrder, KindUnusableScope} {
		if !kinds[k] {
			t.Errorf("no fixture shows warning kind %s", k)
		}
	}
}

// bundled returns copies of the bundled configs that read key material
// made here and listen on free loopback ports, as an operator's copies
// would point at their own files.
func bundled(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	audit := keytest.AuditKey(t, dir)
	jwt := keytest.NewJWT(t, dir)
	cert, key := keytest.TLS(t, dir)
	t.Setenv("TOLLGATE_LISTEN", "127.0.0.1:0")
	rewrites := map[string][]string{
		"quickstart.yaml": {
			"data/audit-dev.key", audit,
			"data/jwt-dev.jwks.json", jwt.JWKSFile,
			"dir: data/audit", "dir: " + filepath.Join(dir, "qs-audit"),
			"127.0.0.1:8080", "127.0.0.1:0",
			"127.0.0.1:9901", "127.0.0.1:0",
		},
		// The cluster's addresses come from the environment; Redis and
		// PostgreSQL need not be up for it to start.
		"cluster.yaml": {
			"${TOLLGATE_NODE_DIR:-data/cluster/node1}/audit.key", audit,
			"${TOLLGATE_NODE_DIR:-data/cluster/node1}/audit", filepath.Join(dir, "cluster-audit"),
			"data/jwt-dev.jwks.json", jwt.JWKSFile,
			"${TOLLGATE_ADMIN:-127.0.0.1:9911}", "127.0.0.1:0",
		},
		"full.yaml": {
			"/etc/tollgate/audit.key", audit,
			"/var/lib/tollgate/audit", filepath.Join(dir, "full-audit"),
			"configs/tls/server.crt", cert,
			"configs/tls/server.key", key,
			"configs/tls/clients-ca.crt", cert,
			"127.0.0.1:8080", "127.0.0.1:0",
			"127.0.0.1:9901", "127.0.0.1:0",
		},
	}
	shipped, _ := filepath.Glob("../../configs/*.yaml")
	for _, f := range shipped {
		if _, ok := rewrites[filepath.Base(f)]; !ok {
			t.Fatalf("configs/%s is not among the bundled configs checked here: add it", filepath.Base(f))
		}
	}
	var out []string
	for name, rw := range rewrites {
		raw, err := os.ReadFile(filepath.Join("../../configs", name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer(rw...).Replace(string(raw))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestBundledConfigsPassStrict: the configs the project ships have no
// error and no warning.
func TestBundledConfigsPassStrict(t *testing.T) {
	for _, p := range bundled(t) {
		if rep := Run(Options{Path: p}); len(rep.Findings) > 0 {
			t.Errorf("%s:\n%s", p, render(rep, ""))
		}
	}
}

// TestCheckedConfigsStart is check's promise: every config it passes
// (fixtures with warnings included) starts, on loopback ports, and shuts
// down; every config it fails does not start either.
func TestCheckedConfigsStart(t *testing.T) {
	env(t)
	files, _ := filepath.Glob("testdata/check/*.yaml")
	files = append(files, bundled(t)...)
	started := 0
	for _, file := range files {
		rep := Run(Options{Path: file})
		p, err := proxy.Start(proxy.Options{ConfigPath: file, LogOutput: discard{}})
		if rep.Errors() > 0 {
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Errorf("%s: check reports errors but the proxy started", file)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: check passed but the proxy does not start: %v", file, err)
			continue
		}
		started++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("%s: shutdown: %v", file, err)
		}
		cancel()
	}
	if started < 8 {
		t.Errorf("started %d configs, want every passing fixture and both bundled configs", started)
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
