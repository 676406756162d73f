package config

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitConfig stands for a filter's settings; filters keep their own types.
type limitConfig struct {
	MaxBytes ByteSize          `yaml:"max_bytes"`
	Burst    int               `yaml:"burst"`
	Rate     float64           `yaml:"rate"`
	Window   time.Duration     `yaml:"window"`
	Enabled  *bool             `yaml:"enabled"`
	Roles    []string          `yaml:"roles"`
	Headers  map[string]string `yaml:"headers"`
	Network  netip.Prefix      `yaml:"network"`
	Claims   map[string]any    `yaml:"claims"`
	Limits   struct {
		Per uint16 `yaml:"per"`
	} `yaml:"limits"`
	Shared `yaml:",inline"`
	Extra  any
}

type Shared struct {
	Realm string `yaml:"realm"`
}

// filterSpec loads a config with one filter entry whose config block is
// block (indented under "config:") and returns that entry.
func filterSpec(t *testing.T, block string) *FilterSpec {
	t.Helper()
	text := base + "routes:\n  - name: r\n    path: /\n    upstream: u\n    filters:\n      - name: limit\n"
	if block != "" {
		text += "        config:\n" + block
	}
	cfg, err := Parse("c.yaml", []byte(text), env("EMPTY", ""))
	if err != nil {
		t.Fatal(err)
	}
	return &cfg.Routes[0].Filters[0]
}

func TestFilterSpecDecodeError(t *testing.T) {
	// Config lines start at line 10, indented 10 columns.
	f := func(block, want string) {
		t.Helper()
		var v limitConfig
		err := filterSpec(t, block).Decode(&v)
		if err == nil {
			t.Fatalf("no error for\n%s", block)
		}
		if err.Error() != want {
			t.Fatalf("wrong error for\n%s\ngot  %s\nwant %s", block, err, want)
		}
	}
	f("          burts: 5\n", `c.yaml:10:11: routes[0].filters[0]: unknown key "burts" (did you mean "burst"?)`)
	f("          limits: {per: 1, pre: 2}\n", `c.yaml:10:28: routes[0].filters[0].limits: unknown key "pre"`)
	f("          max_bytes: lots\n", `c.yaml:10:22: routes[0].filters[0].max_bytes: invalid size "lots": want a non-negative integer with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)`)
	f("          burst: 1.5\n", `c.yaml:10:18: routes[0].filters[0].burst: want an integer in range, got "1.5"`)
	f("          rate: fast\n", `c.yaml:10:17: routes[0].filters[0].rate: want a number, got "fast"`)
	f("          window: 5\n", `c.yaml:10:19: routes[0].filters[0].window: invalid duration "5": want a value such as "30s" or "250ms"`)
	f("          enabled: 1\n", `c.yaml:10:20: routes[0].filters[0].enabled: want true or false, got "1"`)
	f("          roles: admin\n", `c.yaml:10:18: routes[0].filters[0].roles: want a list, got "admin"`)
	f("          headers: {a: [b]}\n", `c.yaml:10:24: routes[0].filters[0].headers.a: want a string, got a list`)
	f("          headers: {a: b, a: c}\n", `c.yaml:10:27: routes[0].filters[0].headers: duplicate key "a" (first defined at line 10)`)
	f("          network: 10.0.0.0/33\n", `c.yaml:10:20: routes[0].filters[0].network: invalid value "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`)
	f("          limits: {per: 70000}\n", `c.yaml:10:25: routes[0].filters[0].limits.per: want a non-negative integer in range, got "70000"`)
	f("          limits: {per: -1}\n", `c.yaml:10:25: routes[0].filters[0].limits.per: want a non-negative integer in range, got "-1"`)
	f("          [a]\n", `c.yaml:10:11: routes[0].filters[0]: want a mapping, got a list`)
	f("          burst: 1\n          burst: 2\n", `c.yaml:11:11: routes[0].filters[0]: duplicate key "burst" (first defined at line 10)`)
	f("          realm: x\n          relam: y\n", `c.yaml:11:11: routes[0].filters[0]: unknown key "relam" (did you mean "realm"?)`)

	// Every error, not just the first.
	f("          burts: 5\n          rate: x\n          roles: [a, [b]]\n",
		`c.yaml:10:11: routes[0].filters[0]: unknown key "burts" (did you mean "burst"?)`+"\n"+
			`c.yaml:11:17: routes[0].filters[0].rate: want a number, got "x"`+"\n"+
			`c.yaml:12:22: routes[0].filters[0].roles[1]: want a string, got a list`)
}

func TestFilterSpecDecode(t *testing.T) {
	fs := filterSpec(t, `          max_bytes: 64KiB
          burst: 10
          rate: 2.5
          window: 1m
          enabled: false
          roles: [admin, ops]
          headers: {X-A: "1"}
          network: 10.0.0.0/8
          claims: {aud: [a, b], n: 1}
          limits: {per: 60}
          realm: api
          extra: [1, two]
`)
	v := limitConfig{Burst: 99}
	if err := fs.Decode(&v); err != nil {
		t.Fatal(err)
	}
	no := false
	want := limitConfig{
		MaxBytes: 64 << 10, Burst: 10, Rate: 2.5, Window: time.Minute, Enabled: &no,
		Roles: []string{"admin", "ops"}, Headers: map[string]string{"X-A": "1"},
		Network: netip.MustParsePrefix("10.0.0.0/8"),
		Claims:  map[string]any{"aud": []any{"a", "b"}, "n": 1},
		Shared:  Shared{Realm: "api"},
		Extra:   []any{1, "two"},
	}
	want.Limits.Per = 60
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got  %+v\nwant %+v", v, want)
	}

	// No config block, or an empty one: v keeps what the constructor put there.
	for _, block := range []string{"", "          \n", "          ~\n"} {
		v := limitConfig{Burst: 7}
		if err := filterSpec(t, block).Decode(&v); err != nil || v.Burst != 7 {
			t.Fatalf("block %q: %v %+v", block, err, v)
		}
	}
	// A null value inside the block leaves a scalar as it was and clears a
	// list, as yaml.v3 does.
	v = limitConfig{Burst: 7, Roles: []string{"a"}}
	if err := filterSpec(t, "          burst: ~\n          roles: ~\n").Decode(&v); err != nil || v.Burst != 7 || v.Roles != nil {
		t.Fatalf("null burst: %v %+v", err, v)
	}

	if err := fs.Decode(v); err == nil || !strings.Contains(err.Error(), "want a non-nil pointer") {
		t.Fatalf("non-pointer: %v", err)
	}

	// A spec built in code has no file position but still names the filter.
	var zero FilterSpec
	zero.Name = "x"
	zero.Config = fs.Config
	err := zero.Decode(&struct{}{})
	if err == nil || !strings.HasPrefix(err.Error(), `10:11: filter "x": unknown key "max_bytes"`) {
		t.Fatalf("code-built spec: %v", err)
	}
}

type tree struct {
	Name string `yaml:"name"`
	Sub  []tree `yaml:"sub"`
}

func TestFilterSpecDecodeAliasCycle(t *testing.T) {
	fs := filterSpec(t, "          &t {name: a, sub: [*t]}\n")
	var v tree
	err := fs.Decode(&v)
	want := `c.yaml:10:30: routes[0].filters[0].sub[0].sub[0]: alias *t refers to a node that contains it`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestNotFoundFilterPositions: the not_found chain's entries are
// positioned like a route's, so their settings' errors name their line.
func TestNotFoundFilterPositions(t *testing.T) {
	text := base + "not_found:\n  filters:\n    - name: limit\n      config:\n        burts: 1\n"
	cfg, err := Parse("c.yaml", []byte(text), env("EMPTY", ""))
	if err != nil {
		t.Fatal(err)
	}
	fs := &cfg.NotFound.Filters[0]
	line := strings.Count(base, "\n") + 3
	if want := "c.yaml:" + strconv.Itoa(line) + ":7"; fs.Pos != want {
		t.Errorf("Pos = %q, want %q", fs.Pos, want)
	}
	var v limitConfig
	err = fs.Decode(&v)
	if want := "c.yaml:" + strconv.Itoa(line+2) + ":9: not_found.filters[0]: unknown key \"burts\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Decode: %v, want %q", err, want)
	}
}

// TestFilterSpecPosOf: a setting inside the block is found at its value,
// through ${ENV} substitution (columns of the file, not of the expanded
// text); an absent one at its closest present ancestor; with no block,
// at the entry.
func TestFilterSpecPosOf(t *testing.T) {
	fs := filterSpec(t, "          headers: {a: ${EMPTY}x, b: y}\n          limits:\n            per: 3\n          roles: [r1, r2]\n")
	line := strings.Count(base, "\n") + 8 // the line of "headers:"
	at := func(l, c int) string { return "c.yaml:" + strconv.Itoa(line+l) + ":" + strconv.Itoa(c) }
	for _, tc := range []struct{ rel, want string }{
		{"", at(0, 11)},
		{"headers", at(0, 20)},
		{"headers.b", at(0, 38)},
		{"limits.per", at(2, 18)},
		{"limits.burst", at(2, 13)},
		{"roles[1]", at(3, 23)},
		{"roles[5]", at(3, 18)},
		{"nope", at(0, 11)},
	} {
		if got := fs.PosOf(tc.rel); got != tc.want {
			t.Errorf("PosOf(%q) = %q, want %q", tc.rel, got, tc.want)
		}
	}
	empty := filterSpec(t, "")
	if got := empty.PosOf("roles[0]"); got != empty.Pos || got == "" {
		t.Errorf("PosOf with no block = %q, want the entry's %q", got, empty.Pos)
	}
}
