package ratelimit

import (
	"testing"

	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestReadmeExamples builds every ratelimit entry of the README's Syntax and
// Examples sections, so the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	configs := filtertest.ReadmeConfigs(t, "README.md", "ratelimit", "Syntax", "Examples")
	for i, src := range configs {
		f, err := New(testSpec(src))
		if err != nil {
			t.Errorf("example %d: %v\n%s", i, err, src)
			continue
		}
		if err := f.(*Filter).Close(); err != nil { // a shared policy's store and workers
			t.Errorf("example %d: close: %v", i, err)
		}
	}
	if len(configs) < 3 {
		t.Fatalf("found %d ratelimit examples, want at least 3", len(configs))
	}
}
