package introspect

import (
	"strings"
	"testing"
)

func TestSetupErrors(t *testing.T) {
	p := newIDP(t)
	base := baseYAML(p)
	f := func(yamlText, want string) {
		t.Helper()
		_, err := newFilter(testSpec(yamlText, testRoles()), options{})
		if err == nil {
			t.Fatalf("accepted:\n%s", yamlText)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q, want it to mention %q", err, want)
		}
	}
	f("", "endpoint:")
	f("endpoint: http://idp.example.com/introspect\nclient_id: a\nclient_secret: b\n", "must be https")
	f("endpoint: ftp://idp.example.com/\nclient_id: a\nclient_secret: b\n", "must be https")
	f("endpoint: /introspect\nclient_id: a\nclient_secret: b\n", "must be absolute")
	f("endpoint: https://u:p@idp.example.com/\nclient_id: a\nclient_secret: b\n", "without user info")
	f("endpoint: https://idp.example.com/\nclient_secret: b\n", "client_id:")
	f("endpoint: https://idp.example.com/\nclient_id: a\nclient_secret: \"\"\n", "client_secret:")
	f(base+"timeout: 0s\n", "timeout:")
	f(base+"timeout: 1m\n", "timeout:")
	f(base+"max_concurrent: -1\n", "max_concurrent:")
	f(base+"audiences: [\"\"]\n", "audiences[0]:")
	f(base+"roles_claim: a..b\n", "roles_claim:")
	f(base+"tenant_claim: .x\n", "tenant_claim:")
	f(base+"header: \"bad header\"\n", "header:")
	f(base+"forward: {subject_header: X-A, roles_header: x-a}\n", "used twice")
	f(base+"forward: {subject_header: authorization}\n", "is the token header")
	f(base+"cache: {max_entries: -1}\n", "cache.max_entries")
	f(base+"cache: {max_ttl: 0s}\n", "cache.max_ttl")
	f(base+"cache: {max_ttl: 10s, negative_ttl: 1m}\n", "cache.negative_ttl")
	f(strings.Replace(base, p.caFile, "/nonexistent/ca.pem", 1), "ca_file:")
	f(strings.Replace(base, p.caFile, writeFile(t, t.TempDir(), "empty.pem", []byte("nothing")), 1), "no PEM certificate")
	f(base+"timout: 1s\n", "timout") // strict decoding
	f(base+"timeout: soon\n", "invalid duration")
	f(base+"leeway: -1s\n", "invalid duration")

	// All problems are reported, one per line, each at the setting it
	// names (an absent one at the entry).
	_, err := newFilter(testSpec("endpoint: http://x.example/\ntimeout: 0s\naudiences: [a, \"\"]\nforward: {roles_header: \"a b\"}\n", nil), options{})
	want := `test.yaml:1:11: filter "introspect": endpoint: URL "http://x.example/" must be https
test.yaml:1:1: filter "introspect": client_id: set the proxy's client id at the authorization server
test.yaml:1:1: filter "introspect": client_secret: set the proxy's client secret (is its environment variable set?)
test.yaml:2:10: filter "introspect": timeout: want more than 0 and at most 30s
test.yaml:3:16: filter "introspect": audiences[1]: an audience cannot be empty
test.yaml:4:25: filter "introspect": forward.roles_header: "a b" is not a valid header name`
	if err == nil || !lineByLine(err.Error(), want) {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
}

// lineByLine reports whether each line of got starts with the same line of
// want, and both have as many.
func lineByLine(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if !strings.HasPrefix(g[i], w[i]) {
			return false
		}
	}
	return true
}

func TestSetupDefaults(t *testing.T) {
	p := newIDP(t)
	f := newTestFilter(t, p, "", nil)
	if f.timeout != defaultTimeout || cap(f.sem) != defaultMaxConcurrent || f.leeway != 30 {
		t.Errorf("timeout %v max_concurrent %d leeway %d", f.timeout, cap(f.sem), f.leeway)
	}
	if f.cache.Capacity() < defaultMaxEntries || f.maxTTL != int64(defaultMaxTTL) || f.negativeTTL != int64(defaultNegativeTTL) {
		t.Errorf("cache capacity %d max_ttl %d negative_ttl %d", f.cache.Capacity(), f.maxTTL, f.negativeTTL)
	}
	if strings.Join(f.rolesPath, ".") != "scope" || f.header != "Authorization" || !f.bearer {
		t.Errorf("roles path %v header %q", f.rolesPath, f.header)
	}
	if strings.Join(f.forwarded, ",") != "X-Auth-Subject,X-Auth-Roles,X-Auth-Tenant" {
		t.Errorf("forwarded = %v", f.forwarded)
	}
	if f.Name() != "introspect" || f.Metrics() == nil || !f.MayBlock() {
		t.Error("name, metrics or MayBlock")
	}
	if err := f.Close(); err != nil || f.Close() != nil {
		t.Error("Close is not idempotent")
	}

	// Loopback http is allowed for a local sidecar; nothing is contacted
	// at construction.
	for _, ep := range []string{"http://127.0.0.1:1/introspect", "http://localhost:1/i", "http://[::1]:1/i"} {
		g, err := New(testSpec("endpoint: \""+ep+"\"\nclient_id: a\nclient_secret: b\n", nil))
		if err != nil {
			t.Fatalf("%s: %v", ep, err)
		}
		g.(*Filter).Close()
	}
}

func TestMetricNames(t *testing.T) {
	p := newIDP(t)
	f := newTestFilter(t, p, "", nil)
	names := f.Metrics().ListMetricNames()
	if len(names) == 0 {
		t.Fatal("no metrics")
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "tollgate_introspect_") || !strings.Contains(n, `route="test"`) {
			t.Errorf("metric %q", n)
		}
	}
}
