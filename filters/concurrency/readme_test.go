package concurrency

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestReadmeExamples builds every concurrency entry of the README's Syntax and
// Examples sections, so the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	configs := filtertest.ReadmeConfigs(t, "README.md", "concurrency", "Syntax", "Examples")
	for i, src := range configs {
		if _, err := New(testSpec(src)); err != nil {
			t.Errorf("example %d: %v\n%s", i, err, src)
		}
	}
	if len(configs) < 3 {
		t.Fatalf("found %d concurrency examples, want at least 3", len(configs))
	}
}
