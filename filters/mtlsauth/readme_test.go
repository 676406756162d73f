package mtlsauth

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestReadmeExamples builds every mtlsauth entry of the README's syntax
// and examples, so the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	configs := filtertest.ReadmeConfigs(t, "README.md", "mtlsauth", "Syntax", "Examples")
	for i, src := range configs {
		if _, err := New(filtertest.Spec("mtlsauth", "r", src, filters.NewRoles())); err != nil {
			t.Errorf("example %d: %v\n%s", i, err, src)
		}
	}
	if len(configs) < 3 {
		t.Fatalf("found %d mtlsauth examples, want at least 3", len(configs))
	}
}
