package ratelimit

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestReadmeExamples builds every ratelimit entry of the README's Syntax and
// Examples sections, so the documented configs cannot rot.
func TestReadmeExamples(t *testing.T) {
	n := 0
	for i, block := range readmeYAML(t) {
		var doc struct {
			Routes []struct {
				Filters []readmeFilter `yaml:"filters"`
			} `yaml:"routes"`
			Filters []readmeFilter `yaml:"filters"`
		}
		// Snippets are indented filter-list entries; wrap them.
		src := block
		if strings.HasPrefix(src, " ") {
			src = "filters:\n" + src
		}
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatalf("example %d: %v\n%s", i, err, src)
		}
		entries := doc.Filters
		for _, r := range doc.Routes {
			entries = append(entries, r.Filters...)
		}
		for _, e := range entries {
			if e.Name != "ratelimit" {
				continue
			}
			out, err := yaml.Marshal(&e.Config)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(testSpec(string(out))); err != nil {
				t.Errorf("example %d: %v", i, err)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("found %d ratelimit examples, want at least 3", n)
	}
}

type readmeFilter struct {
	Name   string    `yaml:"name"`
	Config yaml.Node `yaml:"config"`
}

// readmeYAML returns the yaml blocks of the README's Syntax and Examples
// sections.
func readmeYAML(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, section := range []string{"Syntax", "Examples"} {
		s := string(b)
		start := strings.Index(s, "\n## "+section+"\n")
		if start < 0 {
			t.Fatalf("README has no %s section", section)
		}
		s = s[start:]
		if end := strings.Index(s[1:], "\n## "); end >= 0 {
			s = s[:end+1]
		}
		for {
			i := strings.Index(s, "```yaml\n")
			if i < 0 {
				break
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
	return out
}
