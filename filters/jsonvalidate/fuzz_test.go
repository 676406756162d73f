package jsonvalidate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

// fuzzSchema exercises every keyword family on one document shape.
const fuzzSchema = `{
  "$defs": {"line": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false,
    "properties": {"sku": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Z0-9-]+$"},
                   "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
                   "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}}}},
  "type": "object",
  "required": ["id", "lines"],
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "email": {"type": "string", "format": "email"},
    "at": {"type": "string", "format": "date-time"},
    "lines": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/$defs/line"}},
    "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string", "maxLength": 8}},
    "pair": {"prefixItems": [{"type": "integer"}, {"enum": ["a", "b", null, {"k": [1]}]}], "items": false},
    "meta": {"type": "object", "maxProperties": 4, "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    "kind": {"const": "order"}
  }
}`

// strictJSON is an independent reading of what the validator accepts as
// JSON: encoding/json's grammar, plus exactly one value, valid UTF-8, no
// duplicate keys and nesting within maxDepth.
func strictJSON(b []byte, maxDepth int) bool {
	if !utf8.Valid(b) || !json.Valid(b) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	type level struct {
		obj       bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expectKey = true
				}
				stack = append(stack, level{obj: d == '{', keys: map[string]bool{}, expectKey: true})
				if len(stack) > maxDepth {
					return false
				}
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			top := &stack[len(stack)-1]
			if top.expectKey {
				k := tok.(string)
				if top.keys[k] {
					return false
				}
				top.keys[k] = true
				top.expectKey = false
			} else {
				top.expectKey = true
			}
		}
	}
}

// FuzzValidate feeds any body to the validator: it must not panic; it must
// refuse as malformed exactly what strictJSON refuses; on strict documents
// it must agree with the peer, and the sonic driver with it.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","lines":[{"sku":"A-1","qty":3,"price":19.99}]}`,
		`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","lines":[{"sku":"A-1","qty":1001}]}`,
		`{"id":"x","lines":[]}`,
		`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","lines":[{"sku":"A","qty":1}],"tags":["a","a"]}`,
		`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","lines":[{"sku":"A","qty":1}],"pair":[1,{"k":[1]}],"kind":"order"}`,
		`{"a":1,"a":2}`, `{"a":1} x`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		"\"\xff\"", `"\ud800"`, "\"a\tb\"", `01`, `1.`, `-`, `1e400`, `{"meta":{"a":"\u00e9","b":1e-9}}`,
	} {
		f.Add([]byte(s))
	}
	s, err := compileBytes([]byte(fuzzSchema), "fuzz.json", "jsonvalidate")
	if err != nil {
		f.Fatal(err)
	}
	p := newPeer(f, fuzzSchema)
	d := newSonicDriver(s, DefaultMaxDepth)
	f.Fuzz(func(t *testing.T, body []byte) {
		got := s.validate(string(body), DefaultMaxDepth)
		strict := strictJSON(body, DefaultMaxDepth)
		malformed := len(got) >= 10 && got[:10] == "malformed:"
		if !strict {
			if got == "" {
				t.Fatalf("accepted non-strict JSON %q", body)
			}
			if !malformed && !schemaFirst(got) {
				t.Fatalf("non-strict JSON %q refused as %q", body, got)
			}
			return
		}
		if malformed {
			t.Fatalf("strict JSON %q refused as %q", body, got)
		}
		if !peerCanRead(body) {
			return
		}
		if want := p.valid(t, string(body)); (got == "") != want {
			t.Fatalf("document %q: we say %q, peer says valid=%v", body, got, want)
		}
		if sg := s.validateSonic(d, string(body)); (sg == "") != (got == "") {
			t.Fatalf("document %q: scanner says %q, sonic driver %q", body, got, sg)
		}
	})
}

// schemaFirst reports whether a refusal is a schema failure, which the
// single pass may find before a syntax error later in the document.
func schemaFirst(outcome string) bool { return len(outcome) >= 8 && outcome[:8] == "invalid:" }

// FuzzCompile feeds any document to the schema compiler: it must not
// panic, and what it compiles must validate documents without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		fuzzSchema,
		`{"type":"object","properties":{"a":{"$ref":"#"}}}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"enum":[{"a":[1,{"b":null}]},1.0,"x"]}`,
		`{"multipleOf":1e-300}`, `{"minimum":"1"}`, `{"pattern":"("}`, `{"allOf":[]}`,
		"type: object\nproperties:\n  a: &x {type: string}\n  b: *x\n",
		"a: &a [*a]", `true`, `false`, `[]`, `{"$schema":"http://json-schema.org/draft-07/schema#"}`,
	} {
		f.Add([]byte(s))
	}
	docs := []string{`{}`, `[]`, `{"a":[1,"x",{"b":null}]}`, `1.5`, `"x"`, `null`}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := compileBytes(src, "fuzz.yaml", "jsonvalidate")
		if err != nil {
			return
		}
		for _, d := range docs {
			s.validate(d, 8)
		}
	})
}

// peerCanRead reports whether the peer can read body: it turns numbers
// into big.Rat, which fails (and panics in its comparisons) or takes
// unbounded time on exponents like 1e999999999, which the validator handles
// exactly. Such documents are checked for panics only.
func peerCanRead(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if c := body[i]; c != 'e' && c != 'E' {
			continue
		}
		j := i + 1
		if j < len(body) && (body[j] == '+' || body[j] == '-') {
			j++
		}
		n := 0
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			j++
			n++
		}
		if n > 3 {
			return false
		}
	}
	return true
}
