package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

// TestExplainCommand: flags may come before and after METHOD PATH, bad
// usage exits 2, a config or option error exits 1 with its message, and
// --format json prints one object.
func TestExplainCommand(t *testing.T) {
	f := "../../engine/explain/testdata/scopes.yaml"
	out, errOut, code := runBinary(t, "explain", "--role", "writer", "-c", f, "POST", "/api/orders", "--scope", "orders:write", "--format", "json")
	var res struct {
		Route, Decision string
		Status          int
		Filters         []struct{ Filter, Outcome, Rule string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Route != "api" || res.Decision != "allowed" || len(res.Filters) != 2 || res.Filters[1].Rule != "../../engine/explain/testdata/scopes.yaml:17:45" {
		t.Errorf("explain: exit %d %+v\n%s%s", code, res, out, errOut)
	}
	out, _, code = runBinary(t, "explain", "-c", f, "--role", "reader")
	if code != 0 || !strings.Contains(out, "what roles reader may do") || !strings.Contains(out, "GET,HEAD /api/**") {
		t.Errorf("explain --role: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"explain", "-c", f},                      // neither a request nor a role
		{"explain", "-c", f, "GET"},               // a method without a path
		{"explain", "-c", f, "GET", "/", "extra"}, // too many
		{"explain", "-c", f, "--format", "yaml", "GET", "/"},
	} {
		if _, _, code := runBinary(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if _, errOut, code := runBinary(t, "explain", "-c", f, "GET", "/api/x", "--role", "nobody"); code != 1 || !strings.Contains(errOut, "role nobody") {
		t.Errorf("unknown role: exit %d, want 1\n%s", code, errOut)
	}
	if _, errOut, code := runBinary(t, "explain", "-c", "missing.yaml", "GET", "/"); code != 1 || !strings.Contains(errOut, "cannot read config") {
		t.Errorf("missing config: exit %d, want 1\n%s", code, errOut)
	}
}

// TestExplainTokenAndKey: --token and --api-key present real credentials,
// verified with the config's keys, on a permission that requires a scope:
// a token carrying it is allowed, one lacking it and an API key (which
// carries no scopes) get 403 rbac.scope_missing, and a key beside a token
// for another principal 400 authn.conflicting_credentials — the answers
// the proxy gives (engine/explain's TestExplainAgreesOnScopes).
func TestExplainTokenAndKey(t *testing.T) {
	dir := t.TempDir()
	jwt := keytest.NewJWT(t, dir)
	raw, err := os.ReadFile("../../engine/explain/testdata/tokens.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(raw), "data/jwt-dev.jwks.json", jwt.JWKSFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	token := func(scope string) string {
		c := map[string]any{"iss": "https://tollgate.quickstart", "aud": "quickstart", "sub": "eddie", "roles": []string{"editor"}}
		if scope != "" {
			c["scope"] = scope
		}
		return jwt.Token(t, c)
	}
	g := func(status int, reason, subject string, args ...string) {
		t.Helper()
		out, errOut, code := runBinary(t, append([]string{"explain", "-c", f, "--format", "json", "POST", "/api/v1/orders"}, args...)...)
		var res struct {
			Status    int    `json:"status"`
			Reason    string `json:"reason"`
			Principal struct {
				Subject string `json:"subject"`
			} `json:"principal"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("explain %v: exit %d\n%s%s", args, code, out, errOut)
		}
		if res.Status != status || res.Reason != reason || res.Principal.Subject != subject {
			t.Errorf("explain %v: %d %q as %q, want %d %q as %q\n%s", args, res.Status, res.Reason, res.Principal.Subject, status, reason, subject, out)
		}
	}
	g(0, "", "eddie", "--token", token("orders:read orders:write"))
	g(403, "rbac.scope_missing", "eddie", "--token", token(""))
	g(403, "rbac.scope_missing", "eddie", "--token", token("orders:writer"))
	g(403, "rbac.scope_missing", "eddie", "--api-key", "demo-editor-key")
	g(0, "", "eddie", "--token", token("orders:write"), "--api-key", "demo-editor-key")
	g(400, "authn.conflicting_credentials", "", "--token", token("orders:write"), "--api-key", "demo-viewer-key")
}
