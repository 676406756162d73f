package rbac

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/filters"
)

// TestReadmeExamples builds every rbac entry of the README's examples, so
// the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	n := 0
	for i, block := range readmeExamples(t) {
		var doc struct {
			Routes []struct {
				Filters []readmeFilter `yaml:"filters"`
			} `yaml:"routes"`
			Filters []readmeFilter `yaml:"filters"`
		}
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		entries := doc.Filters
		for _, r := range doc.Routes {
			entries = append(entries, r.Filters...)
		}
		for _, e := range entries {
			if e.Name != "rbac" {
				continue
			}
			src, err := yaml.Marshal(&e.Config)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := build(testSpec(string(src), filters.NewRoles())); err != nil {
				t.Errorf("example %d: %v", i, err)
			}
			n++
		}
	}
	if n < 2 {
		t.Fatalf("found %d rbac examples, want at least 2", n)
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
