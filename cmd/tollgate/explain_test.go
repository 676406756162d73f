package main

import (
	"encoding/json"
	"strings"
	"testing"
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
