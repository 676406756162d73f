package rbac

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestReadmeExamples builds every rbac entry of the README's examples, so
// the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	configs := filtertest.ReadmeConfigs(t, "README.md", "rbac", "Examples")
	for i, src := range configs {
		if _, err := build(testSpec(src, filters.NewRoles())); err != nil {
			t.Errorf("example %d: %v\n%s", i, err, src)
		}
	}
	if len(configs) < 3 {
		t.Fatalf("found %d rbac examples, want at least 3", len(configs))
	}
}
