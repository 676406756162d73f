package filtertest

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/internal/yamlpath"
)

// Spec returns a spec for filter name on route whose Decode strictly
// decodes the YAML src (unknown keys are errors; an empty src leaves the
// target untouched), positioned at "test.yaml:1:1"; its At positions a
// setting inside src as "test.yaml:line:col". roles is the shared
// role table; nil makes a fresh one. The scope table is always fresh; set
// the result's Scopes to share one.
func Spec(name, route, src string, roles *filters.Roles) filters.Spec {
	if roles == nil {
		roles = filters.NewRoles()
	}
	var root yaml.Node
	_ = yaml.Unmarshal([]byte(src), &root) // a bad src is Decode's error to report
	return filters.Spec{
		At: func(rel string) string {
			n := yamlpath.Find(&root, rel)
			if n == nil || n.Line == 0 {
				return "test.yaml:1:1"
			}
			return "test.yaml:" + strconv.Itoa(n.Line) + ":" + strconv.Itoa(n.Column)
		},
		Name:   name,
		Route:  route,
		Pos:    "test.yaml:1:1",
		Roles:  roles,
		Scopes: filters.NewRoles(),
		Decode: func(v any) error {
			d := yaml.NewDecoder(strings.NewReader(src))
			d.KnownFields(true)
			if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		},
	}
}

// CheckErrors holds err, the error of building filter from a test.yaml
// entry (Spec), to exactly the problems in wants, in order, each written
// "line:col message": every problem is reported at once, each at its
// setting.
func CheckErrors(t testing.TB, err error, filter string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", wants)
	}
	want := make([]string, len(wants))
	for i, w := range wants {
		want[i] = "test.yaml:" + strings.Replace(w, " ", ": filter "+strconv.Quote(filter)+": ", 1)
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("error\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// ReadmeConfigs returns, as YAML, the config block of every entry for
// filter name in the yaml code blocks of the given sections of a filter's
// README: route filter lists, the top-level filters list, and bare
// filter-list snippets. It keeps documented examples buildable.
func ReadmeConfigs(t testing.TB, readme, name string, sections ...string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Name   string    `yaml:"name"`
		Config yaml.Node `yaml:"config"`
	}
	var out []string
	for _, section := range sections {
		for i, block := range yamlBlocks(t, string(b), section) {
			if strings.HasPrefix(strings.TrimLeft(block, " "), "- ") {
				block = "filters:\n" + block // a bare filter-list snippet
			}
			var doc struct {
				Routes []struct {
					Filters []entry `yaml:"filters"`
				} `yaml:"routes"`
				Filters []entry `yaml:"filters"`
			}
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
				t.Fatalf("%s: %s example %d: %v\n%s", readme, section, i, err, block)
			}
			entries := doc.Filters
			for _, r := range doc.Routes {
				entries = append(entries, r.Filters...)
			}
			for _, e := range entries {
				if e.Name != name {
					continue
				}
				src, err := yaml.Marshal(&e.Config)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(src))
			}
		}
	}
	return out
}

// yamlBlocks returns the ```yaml blocks of one "## section" of a README.
func yamlBlocks(t testing.TB, s, section string) []string {
	t.Helper()
	start := strings.Index(s, "\n## "+section+"\n")
	if start < 0 {
		t.Fatalf("README has no %s section", section)
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
