package introspect

import (
	"os"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestReadmeExamples builds every introspect entry of the README's
// examples (without contacting anything: construction is offline), so the
// documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	configs := filtertest.ReadmeConfigs(t, "README.md", "introspect", "Examples")
	for i, src := range configs {
		f, err := newFilter(testSpec(src, filters.NewRoles()), options{})
		if err != nil {
			t.Errorf("example %d: %v\n%s", i, err, src)
			continue
		}
		f.Close()
	}
	if len(configs) < 2 {
		t.Fatalf("found %d introspect examples, want at least 2", len(configs))
	}
}

// TestReadmeSections checks the README has the sections every filter's
// README has, and documents every reason the filter can return.
func TestReadmeSections(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, sec := range []string{"Name", "Description", "Syntax", "Examples", "Metrics", "Audit", "Security"} {
		if !strings.Contains(s, "\n## "+sec+"\n") {
			t.Errorf("README has no %s section", sec)
		}
	}
	for _, r := range Reasons() {
		if !strings.Contains(s, "`"+r.Code+"`") {
			t.Errorf("README does not document %s", r.Code)
		}
	}
}
