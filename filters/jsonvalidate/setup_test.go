package jsonvalidate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// TestSetupErrors checks that config mistakes are refused with the
// position of the offending schema keyword, or of the filter entry.
func TestSetupErrors(t *testing.T) {
	f := func(src string, want ...string) {
		t.Helper()
		_, err := build(testSpec(src))
		if err == nil {
			t.Fatalf("%s: accepted", src)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s:\nerror %q\nlacks %q", src, err, w)
			}
		}
	}
	f("schema:\n  type: object\n  propertys: {}\n", `test.yaml:3:3: filter "jsonvalidate": schema /propertys: unsupported keyword "propertys"`)
	f("schema:\n  type: obj\n", `test.yaml:2:9: filter "jsonvalidate": schema /type: unknown type "obj"`)
	f("schema:\n  allOf: [{type: string}]\n", `schema /allOf: unsupported keyword "allOf"`)
	f("schema:\n  properties:\n    a: {$ref: '#/$defs/x', type: string}\n", `schema /properties/a/$ref: $ref must be the only keyword`)
	f("schema:\n  $ref: '#/$defs/nope'\n", `test.yaml:2:9: filter "jsonvalidate": schema /$ref: $ref "#/$defs/nope": no such definition`)
	f("schema:\n  $ref: 'other.json#/x'\n", `only local references`)
	f("schema:\n  $defs: {a: {$ref: '#/$defs/b'}, b: {$ref: '#/$defs/a'}}\n  $ref: '#/$defs/a'\n", `references form a cycle`)
	f("schema:\n  pattern: '('\n", `test.yaml:2:12: filter "jsonvalidate": schema /pattern: invalid pattern (RE2 syntax)`)
	f("schema:\n  format: ipv4\n", `unsupported format "ipv4"`)
	f("schema:\n  minimum: '1'\n", `schema /minimum: want a number, got "1"`)
	f("schema:\n  maxLength: -1\n", `schema /maxLength: want a non-negative integer`)
	f("schema:\n  multipleOf: 0\n", `schema /multipleOf: want a number greater than 0`)
	f("schema:\n  enum: []\n", `schema /enum: want a non-empty list`)
	f("schema:\n  required: [a, a]\n", `duplicate name "a"`)
	f("schema:\n  properties: {a: {$schema: x}}\n", `$schema is only allowed at the root`)
	f("schema:\n  $schema: http://json-schema.org/draft-07/schema#\n", `unsupported dialect`)
	f("schema: {type: object}\nschema_file: x.json\n", `test.yaml:2:14: filter "jsonvalidate": schema_file: set schema or schema_file, not both`)
	f("schema_file: testdata/missing.json\n", `test.yaml:1:14: filter "jsonvalidate": schema_file: cannot load "testdata/missing.json": open testdata/missing.json: `)
	f("max_depth: 0\nschema: true\n", `test.yaml:1:12: filter "jsonvalidate": max_depth: want 1 to 1000, got 0`)
	f("max_bytes: 0\nschema: true\n", `test.yaml:1:12: filter "jsonvalidate": max_bytes: want a positive size, got 0`)
	f("query: {page: {}}\n", `test.yaml:1:15: filter "jsonvalidate": query.page: the rule checks nothing; set required, pattern or max_length`)
	f("headers: {X-A: {pattern: '['}}\n", `test.yaml:1:26: filter "jsonvalidate": headers.X-A.pattern: invalid RE2 pattern`)
	f("max_bytes: 1KiB\n", `nothing to validate`)
	f("schema: true\nmax_byte: 1\n", `field max_byte not found`)
	// Several problems are all reported.
	f("schema:\n  type: obj\n  foo: 1\n  properties: {a: {minLength: x}}\n", `unknown type "obj"`, `unsupported keyword "foo"`, `/properties/a/minLength: want a number`)
}

// TestSetupErrorPositions wants every problem of the block at once, one
// per line, each at the line:col of the setting it names: a list entry at
// the entry, a rule's field at the field, a name with dots at its key.
func TestSetupErrorPositions(t *testing.T) {
	f := func(src string, wants ...string) {
		t.Helper()
		_, err := build(testSpec(src))
		filtertest.CheckErrors(t, err, "jsonvalidate", wants...)
	}
	f(`schema: true
schema_file: s.json
max_bytes: 0
max_depth: 1001
methods: [POST, "GE T", ""]
media_types: [application/json, json, "text/*+xml"]
decode: [gzip, br]
`,
		`2:14 schema_file: set schema or schema_file, not both`,
		`3:12 max_bytes: want a positive size, got 0`,
		`4:12 max_depth: want 1 to 1000, got 1001`,
		`5:17 methods[1]: invalid method "GE T"`,
		`5:25 methods[2]: invalid method ""`,
		`6:33 media_types[1]: "json" is not type/subtype`,
		`6:39 media_types[2]: "text/*+xml" is not type/subtype or type/*+json`,
		`7:16 decode[1]: unknown coding "br" (gzip or zstd)`)
	f("schema: true\nmedia_types: []\n", `2:14 media_types: list at least one media type`)
	f(`query:
  page[size]: {max_length: -1, pattern: "("}
  filter.name: {}
headers:
  X-Trace: {required: true, max_length: -2}
  "Bad Name": {required: true}
`,
		"3:16 query.filter.name: the rule checks nothing; set required, pattern or max_length",
		"2:28 query.page[size].max_length: must not be negative, got -1",
		"2:41 query.page[size].pattern: invalid RE2 pattern: error parsing regexp: missing closing ): `(`",
		`6:15 headers.Bad Name: invalid header name "Bad Name"`,
		"5:41 headers.X-Trace.max_length: must not be negative, got -2")
	// The entry as a whole, when no one setting is wrong.
	f("max_bytes: 1KiB\n", "1:1 nothing to validate: set schema, schema_file, query or headers")

	// A decode error does not hide the checks of what decoded.
	_, err := build(testSpec("schema: true\nmax_depth: 0\nmethod: [GET]\n"))
	if err == nil || !strings.Contains(err.Error(), "field method not found") || !strings.Contains(err.Error(), `test.yaml:2:12: filter "jsonvalidate": max_depth: want 1 to 1000, got 0`) {
		t.Errorf("error\n%v\nwant the unknown key and max_depth", err)
	}
}

func TestSchemaFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if err := os.WriteFile(path, []byte("{\n  \"type\": \"object\",\n  \"properties\": {\"a\": {\"type\": \"strin\"}}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := build(testSpec("schema_file: " + path + "\n"))
	if err == nil || !strings.Contains(err.Error(), path+`:3:32: filter "jsonvalidate": schema /properties/a/type: unknown type "strin"`) {
		t.Fatalf("got %v", err)
	}
	f := newTestFilter(t, "schema_file: testdata/order.schema.json\n")
	if got := decide(f, "POST", "/o", "application/json", benchSmall); got != "allow" {
		t.Fatalf("order: %s", got)
	}
}

func TestDefaults(t *testing.T) {
	f := newTestFilter(t, "schema: {type: object}\n")
	if f.maxBytes != DefaultMaxBytes || f.maxDepth != DefaultMaxDepth || strings.Join(f.methods, ",") != "POST,PUT,PATCH" {
		t.Fatalf("defaults: %d %d %v", f.maxBytes, f.maxDepth, f.methods)
	}
	if got := decide(f, "PUT", "/o", "application/json", ""); !strings.HasPrefix(got, "400 validate.json_malformed") {
		t.Fatalf("PUT without body: %s", got)
	}
	if got := decide(f, "GET", "/o", "", ""); got != "allow" {
		t.Fatalf("GET without body: %s", got)
	}
}
