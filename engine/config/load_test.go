package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// base is a valid config: snippets appended to it start at line 3.
const base = `listeners: [{name: l, listen: "127.0.0.1:0"}]
upstreams: [{name: u, targets: ["127.0.0.1:9000"]}]
`

func env(vars ...string) LookupFunc {
	return func(name string) (string, bool) {
		for i := 0; i+1 < len(vars); i += 2 {
			if vars[i] == name {
				return vars[i+1], true
			}
		}
		return "", false
	}
}

func TestLoadError(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		cfg, err := Parse("c.yaml", []byte(text), env("EMPTY", "", "PORT", "8080"))
		if err == nil {
			t.Fatalf("no error for\n%s\nwant %s", text, want)
		}
		if cfg != nil {
			t.Fatalf("config returned with error %v", err)
		}
		if got := err.Error(); got != want {
			t.Fatalf("wrong error for\n%s\ngot  %s\nwant %s", text, got, want)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
	}

	// Unknown keys: top level, nested, inside a list element, with a suggestion.
	f(base+"lisetners: []\n", `c.yaml:3:1: unknown key "lisetners" (did you mean "listeners"?)`)
	f(base+"log: {levle: info}\n", `c.yaml:3:7: log: unknown key "levle" (did you mean "level"?)`)
	f(base+"log:\n  colour: true\n", `c.yaml:4:3: log: unknown key "colour"`)
	f(base+"routes:\n  - name: r\n    path: /\n    upstream: u\n    filter: []\n",
		`c.yaml:7:5: routes[0]: unknown key "filter" (did you mean "filters"?)`)
	f(base+"routes:\n  - name: r\n    path: /\n    upstream: u\n    filters:\n      - name: x\n        confg: {}\n",
		`c.yaml:9:9: routes[0].filters[0]: unknown key "confg" (did you mean "config"?)`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", tls: {cert: c, key: k, ciphers: [a]}}]`+"\n",
		`c.yaml:1:69: listeners[0].tls: unknown key "ciphers"`)

	// Wrong types.
	f("listeners: public\n", `c.yaml:1:12: listeners: want a list, got "public"`)
	f(base+"log: [info]\n", `c.yaml:3:6: log: want a mapping, got a list`)
	f(base+"admin: {listen: [a]}\n", `c.yaml:3:17: admin.listen: want a string, got a list`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", max_connections: many}]`+"\n",
		`c.yaml:1:63: listeners[0].max_connections: want an integer in range, got "many"`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", max_connections: 99999999999999999999}]`+"\n",
		`c.yaml:1:63: listeners[0].max_connections: want an integer in range, got "99999999999999999999"`)
	f(base[:len(base)-3]+`, tls: "true"}]`+"\n",
		`c.yaml:2:57: upstreams[0].tls: want true or false, got "true"`)
	f(base[:len(base)-3]+`, tls: yes}]`+"\n",
		`c.yaml:2:57: upstreams[0].tls: want true or false, got "yes"`)

	// Durations and sizes.
	f(base[:len(base)-3]+`, timeout: 30}]`+"\n",
		`c.yaml:2:61: upstreams[0].timeout: invalid duration "30": want a non-negative value such as "30s" or "250ms"`)
	f(base[:len(base)-3]+`, timeout: -1s}]`+"\n",
		`c.yaml:2:61: upstreams[0].timeout: invalid duration "-1s": want a non-negative value such as "30s" or "250ms"`)
	f(base[:len(base)-3]+`, timeout: [1s]}]`+"\n",
		`c.yaml:2:61: upstreams[0].timeout: want a duration such as "30s"`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", max_body_bytes: 10 MiBs}]`+"\n",
		`c.yaml:1:62: listeners[0].max_body_bytes: invalid size "10 MiBs": want a non-negative integer with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", max_header_bytes: -1}]`+"\n",
		`c.yaml:1:64: listeners[0].max_header_bytes: invalid size "-1": want a non-negative integer with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)`)

	// Duplicate keys, including in a flow mapping.
	f(base+"log:\n  level: info\n  level: debug\n", `c.yaml:5:3: log: duplicate key "level" (first defined at line 4)`)
	f(base+"routes: [{name: r, path: /, upstream: u, path: /x}]\n", `c.yaml:3:42: routes[0]: duplicate key "path" (first defined at line 3)`)
	f(base+"listeners: []\n", `c.yaml:3:1: duplicate key "listeners" (first defined at line 1)`)

	// Semantic checks.
	f(base+"routes:\n  - {name: r, path: /a, upstream: u}\n  - {name: r, path: /b, upstream: u}\n",
		`c.yaml:5:12: routes[1].name: duplicate route name "r" (first defined at line 4)`)
	f(base+"routes:\n  - {name: r, path: /a, upstream: v}\n",
		`c.yaml:4:35: routes[0].upstream: unknown upstream "v" (defined: "u")`)
	f(base+"routes:\n  - {name: r, path: /a}\n", `c.yaml:4:5: routes[0].upstream: upstream is required`)
	f(base+"routes:\n  - {name: r, path: a, upstream: u}\n",
		`c.yaml:4:21: routes[0].path: invalid path "a": want a pattern starting with '/'`)
	f(base+"routes:\n  - {name: r, path: /, upstream: u, methods: [get]}\n",
		`c.yaml:4:47: routes[0].methods[0]: method "get" must be upper-case ("GET")`)
	f(base+"routes:\n  - {name: r, path: /, upstream: u, methods: [\"GET /\"]}\n",
		`c.yaml:4:47: routes[0].methods[0]: invalid method "GET /": want an HTTP method token such as GET`)
	f(base+"routes:\n  - {name: r, path: /, upstream: u, filters: [{config: {}}]}\n",
		`c.yaml:4:47: routes[0].filters[0].name: filter name is required (or use: the id of a shared filter)`)
	// Shared filter instances.
	f(base+"filters: [{name: sizelimit}]\n", `c.yaml:3:11: filters[0].id: id is required: routes refer to a shared filter by its id`)
	f(base+"filters: [{id: a, name: x}, {id: a, name: y}]\n", `c.yaml:3:34: filters[1].id: duplicate shared filter name "a" (first defined at line 3)`)
	f(base+"filters: [{id: a, use: b, name: x}]\n", `c.yaml:3:24: filters[0].use: a shared filter cannot use another; name its kind instead`)
	f(base+"routes:\n  - {name: r, path: /, upstream: u, filters: [{use: nope}]}\n",
		`c.yaml:4:53: routes[0].filters[0].use: unknown shared filter "nope"`)
	f(base+"filters: [{id: a, name: x}]\nroutes:\n  - {name: r, path: /, upstream: u, filters: [{use: a, name: x}]}\n",
		`c.yaml:5:53: routes[0].filters[0].use: an entry either uses a shared filter or names a kind with its config, not both`)
	f(base+"routes:\n  - {name: r, path: /, upstream: u, filters: [{id: a, name: x}]}\n",
		`c.yaml:4:52: routes[0].filters[0].id: id names shared filters in the top-level filters list; a route's entry has none`)

	// The admin listener is loopback-only unless a token guards it.
	f("admin: {listen: \"0.0.0.0:9901\"}\n"+base, `c.yaml:1:17: admin.listen: admin listener on non-loopback address "0.0.0.0:9901" needs admin.token: metrics, profiles and the dashboard must not be open to the network`)
	f("admin: {listen: \":9901\"}\n"+base, `c.yaml:1:17: admin.listen: admin listener on non-loopback address ":9901" needs admin.token: metrics, profiles and the dashboard must not be open to the network`)

	// Limits and the audit log.
	f(base+"limits: {max_in_flight: -1}\n", `c.yaml:3:25: limits.max_in_flight: must not be negative`)
	f(base+"audit: {dir: d}\n", `c.yaml:3:8: audit.signing_key_file: signing_key_file is required (make one with: tollgate audit keygen)`)
	f(base+"audit: {dir: d, signing_key_file: k, durability: eventually}\n", `c.yaml:3:50: audit.durability: unknown durability "eventually": want process, disk or async`)
	f(base+"audit: {dir: d, signing_key_file: k, compression: lz4}\n", `c.yaml:3:51: audit.compression: unknown compression "lz4": want s2 or zstd`)
	f(base+"audit: {dir: d, signing_key_file: k, failure_policy: ignore}\n", `c.yaml:3:54: audit.failure_policy: unknown failure policy "ignore": want fail-closed or fail-open`)
	f(base+"audit: {dir: d, signing_key_file: k, sink_url: ftp://x}\n", `c.yaml:3:48: audit.sink_url: invalid sink URL "ftp://x": want http:// or https://`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", trusted_proxies: [10.0.0.0/8, 10.1.2.3/33]}]`+"\n",
		`c.yaml:1:76: listeners[0].trusted_proxies[1]: invalid trusted proxy "10.1.2.3/33": want a CIDR such as 10.0.0.0/8 or an IP address`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", trusted_proxies: [10.0.0.1/8]}]`+"\n",
		`c.yaml:1:64: listeners[0].trusted_proxies[0]: invalid trusted proxy "10.0.0.1/8": host bits are set; write "10.0.0.0/8" for the network or "10.0.0.1/32" for one host`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", tls: {cert: c, key: k, min_version: "1.1"}}]`+"\n",
		`c.yaml:1:82: listeners[0].tls.min_version: unsupported TLS version "1.1": want "1.2" or "1.3"`)
	f(`listeners: [{name: l, listen: "127.0.0.1:0", tls: {cert: c}}]`+"\n",
		`c.yaml:1:51: listeners[0].tls.key: key is required when tls is set`)
	f(`listeners: [{name: l, listen: "localhost:http"}]`+"\n",
		`c.yaml:1:31: listeners[0].listen: invalid port in "localhost:http": want a number from 1 to 65535`)
	f(`listeners: [{name: l, listen: "127.0.0.1"}]`+"\n",
		`c.yaml:1:31: listeners[0].listen: invalid address "127.0.0.1": want host:port, such as 127.0.0.1:8080`)
	f("listeners:\n  - {name: a, listen: \"127.0.0.1:8080\"}\n  - {name: b, listen: \"127.0.0.1:8080\"}\n",
		`c.yaml:3:23: listeners[1].listen: address "127.0.0.1:8080" is already used by listeners[0].listen (first defined at line 2)`)
	f("listeners:\n  - {name: a, listen: \"127.0.0.1:9901\"}\n",
		`c.yaml:2:23: listeners[0].listen: address "127.0.0.1:9901" is already used by the admin listener (its default address)`)
	f(base[:len(base)-4]+`, "db_1.internal:0"]}]`+"\n",
		`c.yaml:2:51: upstreams[0].targets[1]: invalid port in "db_1.internal:0": want a number from 1 to 65535`)
	f(base[:len(base)-4]+`, "bad host:80"]}]`+"\n",
		`c.yaml:2:51: upstreams[0].targets[1]: invalid host in "bad host:80": want an IP address or a DNS name`)
	f(base+"upstreams: [{name: v}]\n", `c.yaml:3:1: duplicate key "upstreams" (first defined at line 2)`)
	f("listeners: [{name: l, listen: \"127.0.0.1:0\"}]\nupstreams: [{name: u}]\n",
		`c.yaml:2:13: upstreams[0].targets: at least one target is required`)
	f(base+"log: {level: loud}\n", `c.yaml:3:14: log.level: unknown log level "loud": want debug, info, warn or error`)
	f(base+"log: {format: xml}\n", `c.yaml:3:15: log.format: unknown log format "xml": want text or json`)
	f(base+"admin: {listen: \"localhost\"}\n", `c.yaml:3:17: admin.listen: invalid address "localhost": want host:port, such as 127.0.0.1:8080`)
	f("", `c.yaml:1:1: listeners: at least one listener is required`)
	f("# nothing\n", `c.yaml:1:1: listeners: at least one listener is required`)
	f("listeners: []\n", `c.yaml:1:12: listeners: at least one listener is required`)
	f("&a ~\n", `c.yaml:1:1: listeners: at least one listener is required`) // a null document once zeroed the whole Config, positions included

	// Environment variables: positions are those of the file, not of the
	// substituted text.
	f(base+"admin: {listen: ${MISSING}}\n",
		`c.yaml:3:17: environment variable "MISSING" is not set (use ${MISSING:-default} to give a default)`)
	f(base+"admin: {listen: \"${HOST:-127.0.0.1}:${NOPORT}\"}\n",
		`c.yaml:3:37: environment variable "NOPORT" is not set (use ${NOPORT:-default} to give a default)`)
	f(base+"admin: {listen: ${1X}}\n",
		`c.yaml:3:17: cannot substitute environment variable: invalid reference "${1X}": want ${NAME} or ${NAME:-default}`)
	f(base+"admin: {listen: ${PORT\n", `c.yaml:3:17: cannot substitute environment variable: missing "}"`)
	f(base+"admin: {listen: \"${EMPTY:-127.0.0.1}:${PORT}\", x: 1}\n", `c.yaml:3:48: admin: unknown key "x"`)
	f(base+"admin: {listen: \"127.0.0.1:${PORT}\", x: 1}\n", `c.yaml:3:38: admin: unknown key "x"`)
	f(base+"admin: {listen: \"127.0.0.1:${PORT}\", x: 1, log: ${PORT}}\n", `c.yaml:3:38: admin: unknown key "x"`+"\n"+`c.yaml:3:44: admin: unknown key "log"`)
	f(base+"admin: {listen: \"127.0.0.1:${EMPTY}${PORT}\", x: 1}\n", `c.yaml:3:46: admin: unknown key "x"`)
	f(base+"admin: {listen: \"127.0.0.1:${EMPTY:-${PORT}\", x: 1}\n",
		`c.yaml:3:28: cannot substitute environment variable: invalid reference "${EMPTY:-${PORT}": want ${NAME} or ${NAME:-default}`)
	f(base+"admin: {listen: \"${X:-\"}\"}\n", `c.yaml:3: cannot parse YAML: found unexpected end of stream`)
	f(base+"admin: {listen: \"é$${X}:${PORT}\", x: 1}\n", `c.yaml:3:17: admin.listen: invalid host in "é${X}:8080": want an IP address or a DNS name`+"\n"+`c.yaml:3:35: admin: unknown key "x"`)
	f(base+"admin: {listen: \"127.0.0.1:${PORT}\", é: 1, x: 1}\n", `c.yaml:3:38: admin: unknown key "é"`+"\n"+`c.yaml:3:44: admin: unknown key "x"`)
	f(base+"# ${IGNORED}\n  # ${IGNORED}\nlog: {x: 1}\n", `c.yaml:5:7: log: unknown key "x"`)

	// YAML structure.
	f(base+"log: {level: info\n", `c.yaml:3: cannot parse YAML: did not find expected ',' or '}'`)
	f(base+"routes:\n  - name: r\n  path: /\n", `c.yaml:4: cannot parse YAML: did not find expected '-' indicator`)
	f("a: 1\n\tb: 2\n", `c.yaml:2: cannot parse YAML: found a tab character that violates indentation`)
	f("a: [\n", `c.yaml:2: cannot parse YAML: did not find expected node content`)
	f("a: *b\n", `c.yaml: cannot parse YAML: unknown anchor 'b' referenced`)
	f("a: \x01\n", `c.yaml: cannot parse YAML: control characters are not allowed`)
	f(base+"---\nlisteners: []\n", `c.yaml:3: cannot decode config: want one YAML document, found another`)
	f(base+"routes: &r [*r]\n", `c.yaml:3:9: routes[0]: want a mapping, got a list`)
	f(base+"log: &l {<<: *l}\n", `c.yaml:3:14: log: alias *l refers to a node that contains it`)
	f(base+"log: {<<: [[a]]}\n", `c.yaml:3:12: log: want a mapping to merge, got a list`)
	f(base+"log: {? [a] : b}\n", `c.yaml:3:9: log: want a scalar key, got a list`)
}

func TestLoadAllErrors(t *testing.T) {
	text := base + `routes:
  - name: r
    path: /a
    upstream: nowhere
    timeot: 1s
  - name: r
    path: b
    upstream: u
`
	_, err := Parse("c.yaml", []byte(text), env())
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`c.yaml:6:15: routes[0].upstream: unknown upstream "nowhere" (defined: "u")`,
		`c.yaml:7:5: routes[0]: unknown key "timeot" (did you mean "timeout"?)`,
		`c.yaml:8:11: routes[1].name: duplicate route name "r" (first defined at line 4)`,
		`c.yaml:9:11: routes[1].path: invalid path "b": want a pattern starting with '/'`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Fatalf("error is not a join of %d errors: %#v", len(want), err)
	}
}

// A value that fails to decode is reported once: Validate does not add
// "required" or "unknown" errors about the same setting.
func TestLoadNoCascade(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		_, err := Parse("c.yaml", []byte(text), env())
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
	}
	f("listeners: 3\n", `c.yaml:1:12: listeners: want a list, got "3"`)
	f(base+"routes: [{name: r, path: /, upstream: [u]}]\n", `c.yaml:3:39: routes[0].upstream: want a string, got a list`)
	f(base+"routes: [{name: [r], path: /, upstream: u}, {name: r, path: /, upstream: u}]\n", `c.yaml:3:17: routes[0].name: want a string, got a list`)
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(path, []byte(base+"routes:\n  - name: r\n    path: /x\n    upstream: u\n    filters:\n      - name: f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}
	if want := path + ":4:5"; cfg.Routes[0].Pos != want {
		t.Errorf("route Pos = %q, want %q", cfg.Routes[0].Pos, want)
	}
	if want := path + ":8:9"; cfg.Routes[0].Filters[0].Pos != want {
		t.Errorf("filter Pos = %q, want %q", cfg.Routes[0].Filters[0].Pos, want)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "cannot read config: ") {
		t.Fatalf("missing file: got %v", err)
	}

	if err := os.WriteFile(path, []byte("listeners: [{name: l, listen: ${TOLLGATE_TEST_LISTEN}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_LISTEN", "127.0.0.1:0")
	if cfg, err = Load(path); err != nil || cfg.Listeners[0].Listen != "127.0.0.1:0" {
		t.Fatalf("env substitution: %v %+v", err, cfg)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(base+"routes: [{name: r, path: /, upstream: u}]\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	l, u, r := cfg.Listeners[0], cfg.Upstreams[0], cfg.Routes[0]
	f := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	f("admin.listen", cfg.Admin.Listen, "127.0.0.1:9901")
	f("log.level", cfg.Log.Level, "info")
	f("log.format", cfg.Log.Format, "text")
	f("read_timeout", l.ReadTimeout.D(), 30*time.Second)
	f("header_timeout", l.HeaderTimeout.D(), 10*time.Second)
	f("write_timeout", l.WriteTimeout.D(), 30*time.Second)
	f("idle_timeout", l.IdleTimeout.D(), 60*time.Second)
	f("max_connections", l.MaxConnections, 10000)
	f("max_header_bytes", l.MaxHeaderBytes, ByteSize(16<<10))
	f("max_body_bytes", l.MaxBodyBytes, ByteSize(10<<20))
	f("stream_threshold", l.StreamThreshold, ByteSize(1<<20))
	f("connect_timeout", u.ConnectTimeout.D(), 5*time.Second)
	f("timeout", u.Timeout.D(), 30*time.Second)
	f("upstream idle_timeout", u.IdleTimeout.D(), 60*time.Second)
	f("upstream max_connections", u.MaxConnections, 1024)
	f("route max_body_bytes", r.MaxBodyBytes, ByteSize(0))
	f("route timeout", r.Timeout, Duration(0))

	// Zero means default; explicit values are kept.
	cfg, err = Parse("c.yaml", []byte(`listeners: [{name: l, listen: ":0", read_timeout: 0s, idle_timeout: 5s, tls: {cert: c, key: k}}]`), env())
	if err != nil {
		t.Fatal(err)
	}
	l = cfg.Listeners[0]
	f("read_timeout", l.ReadTimeout, DefaultReadTimeout)
	f("idle_timeout", l.IdleTimeout.D(), 5*time.Second)
	f("tls.min_version", l.TLS.MinVersion, "1.2")
}

// TestMetricsHistograms: metrics.histograms defaults to prometheus, keeps
// either kind as written, and refuses anything else at its position.
func TestMetricsHistograms(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "prometheus"},
		{"metrics: {}\n", "prometheus"},
		{"metrics: {histograms: \"\"}\n", "prometheus"},
		{"metrics: {histograms: prometheus}\n", "prometheus"},
		{"metrics:\n  histograms: vmrange\n", "vmrange"},
	} {
		cfg, err := Parse("c.yaml", []byte(base+tc.text), env())
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if got := cfg.Metrics.Histograms; got != tc.want {
			t.Errorf("%q: histograms %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"metrics: {histograms: native}\n", `c.yaml:3:23: metrics.histograms: unknown histogram kind "native": want prometheus (le buckets, for any Prometheus) or vmrange (VictoriaMetrics only)`},
		{"metrics:\n  histograms: Prometheus\n", `c.yaml:4:15: metrics.histograms: unknown histogram kind "Prometheus": want prometheus (le buckets, for any Prometheus) or vmrange (VictoriaMetrics only)`},
		{"metrics: {histogram: vmrange}\n", `c.yaml:3:11: metrics: unknown key "histogram" (did you mean "histograms"?)`},
		{"metrics: {histograms: [vmrange]}\n", `c.yaml:3:23: metrics.histograms: want a string, got a list`},
	} {
		_, err := Parse("c.yaml", []byte(base+tc.text), env())
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v is not an *Error", tc.text, err)
		}
		if err.Error() != tc.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tc.text, err, tc.want)
		}
	}
}

func TestMergeKeys(t *testing.T) {
	text := base + `x-defaults: &defaults
  path: /
  upstream: u
  timeout: 5s
routes:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
    timeout: 1s
`
	_, err := Parse("c.yaml", []byte(text), env())
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3:1: unknown key "x-defaults"`) {
		t.Fatalf("got %v", err)
	}
	text = base + `routes:
  - &a {name: a, path: /, upstream: u, timeout: 5s}
  - <<: *a
    name: b
    timeout: 1s
  - {<<: [*a, {host: h, timeout: 2s}], name: c}
`
	cfg, err := Parse("c.yaml", []byte(text), env())
	if err != nil {
		t.Fatal(err)
	}
	f := func(i int, name string, timeout time.Duration, host string) {
		t.Helper()
		r := cfg.Routes[i]
		if r.Name != name || r.Timeout.D() != timeout || r.Path != "/" || r.Upstream != "u" || r.Host != host {
			t.Errorf("routes[%d] = %+v", i, r)
		}
	}
	f(0, "a", 5*time.Second, "")
	f(1, "b", time.Second, "")
	f(2, "c", 5*time.Second, "h")
}

// Aliases cannot expand a small file into unbounded work.
func TestAliasBomb(t *testing.T) {
	// bomb returns anchors &x0..&x8 as YAML list items, each holding ten
	// references to the one before: *x8 stands for 10^9 leaves.
	bomb := func(open, close string) string {
		var b strings.Builder
		b.WriteString("[&x0 " + open + strings.Repeat("a, ", 9) + "a" + close)
		for i := 1; i <= 8; i++ {
			ref := fmt.Sprintf("*x%d", i-1)
			fmt.Fprintf(&b, ", &x%d %s%s%s%s", i, open, strings.Repeat(ref+", ", 9), ref, close)
		}
		b.WriteString("]")
		return b.String()
	}

	// Merge keys in the config itself.
	text := base + "routes:\n  - name: r\n    path: /\n    upstream: u\n    filters: [{name: f, config: " +
		bomb("{<<: [", "]}") + "}]\n  - {<<: *x8}\n"
	text = strings.Replace(text, "&x0 {<<: [a, a, a, a, a, a, a, a, a, a]}", "&x0 {name: r}", 1)
	start := time.Now()
	_, err := Parse("c.yaml", []byte(text), env())
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("merge bomb: got %v", err)
	}

	// Lists inside a filter's config block.
	text = base + "routes: [{name: r, path: /, upstream: u, filters: [{name: f, config: {keep: " + bomb("[", "]") + ", bomb: *x8}}]}]\n"
	cfg, err := Parse("c.yaml", []byte(text), env())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Keep yaml.Node                `yaml:"keep"`
		Bomb [][][][][][][][][]string `yaml:"bomb"`
	}
	err = cfg.Routes[0].Filters[0].Decode(&v)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("list bomb: got %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("bounded decoding took %v", d)
	}
}
