package explain

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// workdir lays out a directory as `make run` leaves the repository — the
// bundled configs under configs/, the quickstart's JWK Set under data/ —
// with key material made here, and moves into it, so the outputs name
// configs/quickstart.yaml as an operator would see it. It returns the JWT
// key and the directory of this package's fixtures.
func workdir(t *testing.T) (*keytest.JWT, string) {
	t.Helper()
	fixtures, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"configs", "data", "testdata"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"../../configs/quickstart.yaml", "../../configs/full.yaml", "testdata/scopes.yaml", "testdata/tokens.yaml"} {
		raw, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, "configs", filepath.Base(c))
		if strings.HasPrefix(c, "testdata/") {
			to = filepath.Join(dir, c)
		}
		if err := os.WriteFile(to, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	jwt := keytest.NewJWT(t, filepath.Join(dir, "data"))
	if err := os.Rename(jwt.JWKSFile, filepath.Join(dir, "data", "jwt-dev.jwks.json")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return jwt, fixtures
}

func TestGolden(t *testing.T) {
	jwt, fixtures := workdir(t)
	token := func(sub string, roles ...string) string {
		return jwt.Token(t, map[string]any{"iss": "https://tollgate.quickstart", "aud": "quickstart", "sub": sub, "roles": roles})
	}
	scoped := func(sub string, extra ...any) string {
		c := map[string]any{"iss": "https://tollgate.quickstart", "aud": "quickstart", "sub": sub, "roles": []string{"editor"}}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return jwt.Token(t, c)
	}
	const qs, tk = "configs/quickstart.yaml", "testdata/tokens.yaml"
	tests := []struct {
		name string
		opts Options
		json bool
	}{
		{"role-allowed", Options{Path: qs, Method: "GET", Target: "/api/v1/customers/1", Roles: []string{"viewer"}}, false},
		{"role-method-denied", Options{Path: qs, Method: "DELETE", Target: "/api/v1/customers/1", Roles: []string{"viewer"}}, false},
		{"role-path-denied-json", Options{Path: qs, Method: "GET", Target: "/admin/stats", Roles: []string{"editor"}}, true},
		{"api-key-body-filters", Options{Path: qs, Method: "POST", Target: "/api/v1/orders", APIKey: "demo-editor-key"}, false},
		{"api-key-wrong", Options{Path: qs, Method: "GET", Target: "/api/v1/customers/1", APIKey: "not-a-key"}, false},
		{"token-normalized-path", Options{Path: qs, Method: "GET", Target: "/api/v1/./customers/%31?x=1", Token: token("vera", "viewer")}, false},
		{"token-admin", Options{Path: qs, Method: "GET", Target: "/admin/stats", Token: token("ada", "admin")}, false},
		{"token-bad", Options{Path: qs, Method: "GET", Target: "/api/v1/customers/1", Token: "not.a.token"}, false},
		{"anonymous", Options{Path: qs, Method: "GET", Target: "/api/v1/customers/1"}, false},
		{"bad-path", Options{Path: qs, Method: "GET", Target: "/api/v1/customers/%2e%2e/%2e%2e/admin/stats"}, false},
		{"no-route", Options{Path: qs, Method: "GET", Target: "/nowhere"}, false},
		{"method-not-allowed", Options{Path: qs, Method: "PUT", Target: "/api/v1/orders"}, false},
		{"scope-allowed", Options{Path: "testdata/scopes.yaml", Method: "POST", Target: "/api/orders", Roles: []string{"writer"}, Scopes: []string{"orders:write"}}, false},
		{"scope-missing", Options{Path: "testdata/scopes.yaml", Method: "POST", Target: "/api/orders", APIKey: "k1"}, false},
		{"scope-only", Options{Path: "testdata/scopes.yaml", Method: "DELETE", Target: "/api/orders/9", Scopes: []string{"orders:write", "orders:delete"}}, false},
		{"not-found-chain", Options{Path: "testdata/scopes.yaml", Method: "GET", Target: "/nowhere"}, false},
		{"not-found-chain-passed", Options{Path: "testdata/scopes.yaml", Method: "GET", Target: "/nowhere", APIKey: "k1"}, false},
		{"full-host-route", Options{Path: "configs/full.yaml", Method: "GET", Target: "/api/v1/orders/7", Host: "api.example.com", APIKey: "demo-editor-key"}, false},
		{"full-other-host", Options{Path: "configs/full.yaml", Method: "GET", Target: "/api/v1/orders/7", Host: "evil.example.com", APIKey: "demo-editor-key"}, false},
		{"full-public-route", Options{Path: "configs/full.yaml", Method: "GET", Target: "/reports/q3.pdf"}, false},
		{"token-scoped", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie", "scope", "orders:read orders:write")}, false},
		{"token-scp", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie", "scp", []string{"orders:write"})}, false},
		{"token-unscoped", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie")}, false},
		{"token-look-alike-scope", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie", "scope", "orders:writer")}, false},
		{"api-key-no-scopes", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", APIKey: "demo-editor-key"}, false},
		{"token-and-key-agree", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie", "scope", "orders:write"), APIKey: "demo-editor-key"}, false},
		{"token-and-key-conflict", Options{Path: tk, Method: "POST", Target: "/api/v1/orders", Token: scoped("eddie", "scope", "orders:write"), APIKey: "demo-viewer-key"}, false},
		{"token-and-key-conflict-json", Options{Path: tk, Method: "GET", Target: "/api/v1/orders", Token: scoped("vera"), APIKey: "demo-editor-key"}, true},
		{"public", Options{Path: "testdata/scopes.yaml", Method: "GET", Target: "/docs/intro"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := r.Write(&b, tc.json); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(fixtures, tc.name+".golden"), b.String())
		})
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"list-editor", Options{Path: qs, Roles: []string{"editor"}}},
		{"list-writer-scopes", Options{Path: "testdata/scopes.yaml", Roles: []string{"writer"}, Scopes: []string{"orders:write"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := List(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := l.Write(&b, false); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(fixtures, tc.name+".golden"), b.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestErrors(t *testing.T) {
	workdir(t)
	f := func(opts Options, want string) {
		t.Helper()
		_, err := Run(opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
	f(Options{Path: "configs/quickstart.yaml", Method: "GET", Target: "/x", Roles: []string{"nobody"}}, "role nobody: no filter of configs/quickstart.yaml knows it")
	f(Options{Path: "configs/missing.yaml", Method: "GET", Target: "/x"}, "cannot read config")
	f(Options{Path: "configs/quickstart.yaml"}, "want a METHOD and a PATH")
}
