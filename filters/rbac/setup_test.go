package rbac

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

func TestConfigErrors(t *testing.T) {
	f := func(name, src string, wants ...string) {
		t.Helper()
		_, err := build(testSpec(src, filters.NewRoles()))
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
	f("no roles", ``, `test.yaml:1:1: filter "rbac": roles: at least one role`)
	f("positions", "method_override: maybe\nroles:\n  a: {allow: [{paths: [/x]}]}\nallow:\n  - {methods: [GET], paths: [/y]}\n",
		"test.yaml:1:18: filter \"rbac\": method_override: want strip or authorize",
		"test.yaml:3:15: filter \"rbac\": roles.a.allow[0].methods: list at least one method",
		"test.yaml:5:5: filter \"rbac\": allow[0].scopes: a permission outside roles must list")
	f("empty roles", `roles: {}`, "at least one role")
	f("unknown key", `roles: {a: {allow: [{methods: [GET], paths: ["/"], path: "/x"}]}}`, "path")
	f("cycle",
		"roles:\n  a: {inherits: [b]}\n  b: {inherits: [c]}\n  c: {inherits: [a]}\n",
		`test.yaml:4:18: filter "rbac": roles.c.inherits: inheritance cycle a -> b -> c -> a`)
	f("self cycle", "roles:\n  a:\n    inherits: [a]\n", "test.yaml:3:16:", "cycle a -> a")
	f("unknown parent", "roles:\n  a:\n    inherits: [admn]\n", `test.yaml:3:16: filter "rbac": roles.a.inherits: unknown role "admn"`)
	f("unknown subject role", "roles: {a: {}}\nsubjects:\n  alice: [a, b]\n", `test.yaml:3:14:`, `unknown role "b"`)
	f("no methods", `roles: {a: {allow: [{paths: ["/"]}]}}`, "roles.a.allow[0].methods: list at least one method")
	f("no paths", `roles: {a: {allow: [{methods: [GET]}]}}`, "roles.a.allow[0].paths: list at least one path")
	f("lower-case method", `roles: {a: {allow: [{methods: [get], paths: ["/"]}]}}`, `write "GET"`)
	f("bad method", `roles: {a: {allow: [{methods: ["GE T"], paths: ["/"]}]}}`, `invalid method "GE T"`)
	f("relative pattern", `roles: {a: {allow: [{methods: [GET], paths: ["api/**"]}]}}`, "does not start with a slash")
	f("inner wildcard", `roles: {a: {allow: [{methods: [GET], paths: ["/a/**/b"]}]}}`, "not the last segment")
	f("glob in segment", `roles: {a: {allow: [{methods: [GET], paths: ["/api/v1*"]}]}}`, "'*' is a wildcard only")
	f("double slash", `roles: {a: {allow: [{methods: [GET], paths: ["/a//b"]}]}}`, "empty segment")
	f("dot segment", `roles: {a: {allow: [{methods: [GET], paths: ["/a/../b"]}]}}`, "dot segment")
	f("lower hex", `roles: {a: {allow: [{methods: [GET], paths: ["/a%2fb"]}]}}`, "upper-case hex")
	f("encoded slash", `roles: {a: {allow: [{methods: [GET], paths: ["/a%2Fb"]}]}}`, "never occurs")
	f("encoded unreserved", `roles: {a: {allow: [{methods: [GET], paths: ["/%7Euser"]}]}}`, `write "~"`)
	f("space", `roles: {a: {allow: [{methods: [GET], paths: ["/a b"]}]}}`, "must be percent-encoded")
	f("bad param", `roles: {a: {allow: [{methods: [GET], paths: ["/a/{1x}"]}]}}`, "invalid parameter name")
	f("half param", `roles: {a: {allow: [{methods: [GET], paths: ["/a/{x"]}]}}`, "invalid parameter segment")
	f("dup param", `roles: {a: {allow: [{methods: [GET], paths: ["/{x}/{x}"]}]}}`, "duplicate parameter")
	f("rest not last", `roles: {a: {allow: [{methods: [GET], paths: ["/{x...}/a"]}]}}`, "not the last segment")
	f("bad tenant param", `roles: {a: {allow: [{methods: [GET], paths: ["/"], conditions: {tenant_param: "a-b"}}]}}`, "tenant_param")
	f("method_override", "roles: {a: {}}\nmethod_override: allow\n", "want strip or authorize")
	f("empty challenge", "roles: {a: {}}\nchallenge: \"\"\n", "challenge")
	f("every error reported",
		"roles:\n  a: {inherits: [x]}\n  b: {allow: [{methods: [get], paths: [\"nope\"]}]}\n",
		`unknown role "x"`, `write "GET"`, "does not start with a slash")
}

func TestTooManyRoles(t *testing.T) {
	var b strings.Builder
	b.WriteString("roles:\n")
	for i := range filters.MaxRoles + 1 {
		b.WriteString("  r" + strconv.Itoa(100+i) + ": {}\n")
	}
	_, err := build(testSpec(b.String(), filters.NewRoles()))
	if err == nil || !strings.Contains(err.Error(), "at most 64 roles") {
		t.Fatalf("got %v", err)
	}
}

func TestErrorsAreJoined(t *testing.T) {
	_, err := build(testSpec("roles:\n  a: {inherits: [x, y]}\n", filters.NewRoles()))
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 2 {
		t.Fatalf("want two joined errors, got %v", err)
	}
}

func TestSharedRoleTable(t *testing.T) {
	// Roles interned earlier by another filter keep their bits; the policy
	// uses the same table, so a credential's bits mean the same roles.
	roles := filters.NewRoles()
	for _, n := range []string{"zeta", "editor"} {
		if _, err := roles.Intern(n); err != nil {
			t.Fatal(err)
		}
	}
	f, err := build(testSpec(policy, roles))
	if err != nil {
		t.Fatal(err)
	}
	i, _ := roles.Lookup([]byte("editor"))
	if i != 1 {
		t.Fatalf("editor moved to bit %d", i)
	}
	p := principal{verified: true, subject: "s", roles: []string{"editor"}}
	if got := decide(f, newRequest(t, roles, p, "POST", "/api/v1/orders")); got != allow {
		t.Errorf("got %q", got)
	}
}

func TestRulesDescribePolicy(t *testing.T) {
	f, roles := newTestFilter(t, policy)
	var got []string
	for _, r := range f.Rules(roles, nil) {
		got = append(got, r.Role+" "+strings.Join(r.Methods, ",")+" "+r.Pattern+" ["+strings.Join(r.Holders, ",")+"]"+r.TenantParam)
	}
	want := []string{
		"admin * /** [admin]",
		"editor POST,PUT,PATCH /api/v1/orders [admin,editor]",
		"editor POST,PUT,PATCH /api/v1/customers/{id} [admin,editor]",
		"member GET,HEAD,PUT /tenants/{tenant}/** [member]tenant",
		"member GET,HEAD /shared/** [member]org",
		"viewer GET,HEAD /api/v1/** [admin,editor,viewer]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFileOf(t *testing.T) {
	f := func(pos, want string) {
		t.Helper()
		if got := fileOf(pos); got != want {
			t.Errorf("fileOf(%q) = %q, want %q", pos, got, want)
		}
	}
	f("configs/a.yaml:12:7", "configs/a.yaml")
	f("c:/x.yaml:1:2", "c:/x.yaml")
	f("a.yaml", "a.yaml")
	f("a.yaml:x", "a.yaml:x")
}
