package yamlpath

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

const doc = `redis: {addresses: [], timeout: -1s}
policies:
  - {name: a, rate: 10}
  - name: b
    rate: 0
base: &b {x: 1}
copy: *b
`

func TestFind(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel       string
		line, col int
	}{
		{"", 1, 1},
		{"redis", 1, 8},
		{"redis.timeout", 1, 33},
		{"redis.addresses", 1, 20},
		{"redis.addresses[0]", 1, 20}, // absent: the closest ancestor
		{"policies[0].rate", 3, 21},
		{"policies[1].rate", 5, 11},
		{"policies[1]", 4, 5},
		{"policies[7].rate", 3, 3},
		{"policies[x]", 3, 3},
		{"policies[1", 3, 3},
		{"nope.deeper", 1, 1},
		{"copy.x", 6, 14},
		{"redis.timeout.more", 1, 33},
	} {
		n := Find(&root, tc.rel)
		if n == nil || n.Line != tc.line || n.Column != tc.col {
			t.Errorf("Find(%q) = %+v, want a node at %d:%d", tc.rel, n, tc.line, tc.col)
		}
	}
	if Find(nil, "a") != nil {
		t.Error("Find(nil) is not nil")
	}
}

// TestFindDottedKeys: a key that holds '.' or '[' is found under its own
// name, the longest key that fits winning over a shorter one followed by
// more path.
func TestFindDottedKeys(t *testing.T) {
	const src = `require_claims: {"https://x.test/roles": [], tenant.id: 7, a: {b: 1}, a.b: 2}
query:
  page[size]: {max_length: -1}
  page: {pattern: x}
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel       string
		line, col int
	}{
		{"require_claims.https://x.test/roles", 1, 42},
		{"require_claims.tenant.id", 1, 57},
		{"require_claims.tenant", 1, 17}, // absent: the closest ancestor
		{"require_claims.a.b", 1, 76},    // the key "a.b", not a's b
		{"require_claims.a", 1, 63},
		{"require_claims.https://x.test", 1, 17},
		{"query.page[size].max_length", 3, 28},
		{"query.page[size]", 3, 15},
		{"query.page.pattern", 4, 19},
		{"query.page[0]", 4, 9}, // page is no sequence: page itself
	} {
		n := Find(&root, tc.rel)
		if n == nil || n.Line != tc.line || n.Column != tc.col {
			t.Errorf("Find(%q) = %d:%d, want %d:%d", tc.rel, n.Line, n.Column, tc.line, tc.col)
		}
	}
}

// FuzzFind: any path over any document finds a node (never panics, never
// nil for a non-nil tree).
func FuzzFind(f *testing.F) {
	f.Add(doc, "policies[1].rate")
	f.Add("a: [1, [2, {b: 3}]]", "a[1][1].b")
	f.Add("a: &x [*x]", "a[0][0][0]")
	f.Fuzz(func(t *testing.T, src, rel string) {
		var root yaml.Node
		if yaml.Unmarshal([]byte(src), &root) != nil {
			return
		}
		if Find(&root, rel) == nil && root.Kind != 0 {
			t.Fatalf("Find(%q) over %q is nil", rel, src)
		}
	})
}
