package lint

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/filters/rbac"
)

// FuzzPatternCovers checks that the shadowing warning is sound: whenever
// patternCovers(p, q) says p covers q, every path the rbac filter admits
// through q it also admits through p.
func FuzzPatternCovers(f *testing.F) {
	f.Add("/**", "/a/{b}", "/a/x")
	f.Add("/a/**", "/a", "/a")
	f.Add("/a/*", "/a/{x}", "/a/")
	f.Add("/a/{id}", "/a/7", "/a/7")
	f.Add("/a/{rest...}", "/a/b/*", "/a/b/c")
	f.Fuzz(func(t *testing.T, p, q, path string) {
		if !patternCovers(p, q) {
			return
		}
		norm, err := router.Normalize(nil, []byte(path))
		if err != nil {
			return
		}
		cfg, _ := yaml.Marshal(map[string]any{"roles": map[string]any{
			"a": map[string]any{"allow": []any{map[string]any{"methods": []string{"GET"}, "paths": []string{p}}}},
			"b": map[string]any{"allow": []any{map[string]any{"methods": []string{"GET"}, "paths": []string{q}}}},
		}})
		roles := filters.NewRoles()
		flt, err := rbac.New(filtertest.Spec("rbac", "r", string(cfg), roles))
		if err != nil {
			return // a pattern rbac refuses
		}
		allowed := func(role string) bool {
			ex := filters.AcquireExchange()
			defer filters.ReleaseExchange(ex)
			ex.Method, ex.Path = []byte("GET"), norm
			ex.SetHeaders(filtertest.NewStaticHeaders())
			bit, _ := roles.Lookup([]byte(role))
			ex.Identity.Verified, ex.Identity.Roles = true, 1<<uint(bit)
			return flt.Handle(ex).IsContinue()
		}
		if allowed("b") && !allowed("a") {
			t.Fatalf("patternCovers(%q, %q) but %q is admitted by the second only", p, q, norm)
		}
	})
}

// FuzzSplitPos checks the position parser check uses on error messages:
// it never panics, a position it cuts off is a prefix of the message, and
// a position without a line is the config file itself.
func FuzzSplitPos(f *testing.F) {
	f.Add("configs/quickstart.yaml:12:7: routes[0]: unknown key")
	f.Add("router: route 1")
	f.Fuzz(func(t *testing.T, msg string) {
		c := &checker{file: "configs/quickstart.yaml"}
		pos, rest := c.cutPos(msg)
		if pos == "" {
			if rest != msg {
				t.Fatalf("cutPos(%q) changed the message to %q", msg, rest)
			}
			return
		}
		if msg != pos+": "+rest {
			t.Fatalf("cutPos(%q) = %q, %q", msg, pos, rest)
		}
		file, line, col := splitPos(pos)
		if line < 0 || col < 0 || line == 0 && file != c.file {
			t.Fatalf("splitPos(%q) = %q, %d, %d", pos, file, line, col)
		}
	})
}
