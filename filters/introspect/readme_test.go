package introspect

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestReadmeExamples builds every introspect entry of the README's
// examples (without contacting anything: construction is offline), so the
// documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	n := 0
	for i, block := range readmeExamples(t) {
		var doc struct {
			Routes []struct {
				Filters []readmeFilter `yaml:"filters"`
			} `yaml:"routes"`
		}
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		for _, r := range doc.Routes {
			for _, e := range r.Filters {
				if e.Name != "introspect" {
					continue
				}
				src, err := yaml.Marshal(&e.Config)
				if err != nil {
					t.Fatal(err)
				}
				f, err := newFilter(testSpec(string(src), filters.NewRoles()), options{})
				if err != nil {
					t.Errorf("example %d: %v", i, err)
					continue
				}
				f.Close()
				n++
			}
		}
	}
	if n < 2 {
		t.Fatalf("found %d introspect examples, want at least 2", n)
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

type readmeFilter struct {
	Name   string    `yaml:"name"`
	Config yaml.Node `yaml:"config"`
}

// readmeExamples returns the yaml blocks of the README's Examples section.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Examples\n")
	if start < 0 {
		t.Fatal("README has no Examples section")
	}
	s = s[start:]
	if end := strings.Index(s[1:], "\n## "); end >= 0 {
		s = s[:end+1]
	}
	var out []string
	for {
		i := strings.Index(s, "```yaml\n")
		if i < 0 {
			return out
		}
		s = s[i+len("```yaml\n"):]
		j := strings.Index(s, "```")
		if j < 0 {
			t.Fatal("unterminated yaml block")
		}
		out = append(out, s[:j])
		s = s[j+3:]
	}
}
