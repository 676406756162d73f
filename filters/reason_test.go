package filters

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestProblemBodiesAreUTF8Text: a problem body is JSON in valid UTF-8
// whatever the detail holds, with non-ASCII text kept as it is (a schema
// message "must be ≤ 1000", a path in Cyrillic), not escaped byte by byte.
func TestProblemBodiesAreUTF8Text(t *testing.T) {
	r := NewReason("validate.body_invalid", 400, DecisionInvalid, "request body does not match the schema")
	for _, c := range []struct {
		detail, want string
	}{
		{"/qty: must be ≤ 1000", "/qty: must be ≤ 1000"},
		{"/путь/ünïcode", "/путь/ünïcode"},
		{"quote \" backslash \\ tab \t nul \x00 del \x7f", "quote \" backslash \\ tab \t nul \x00 del \x7f"},
		{"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes"},
		{"line\u2028sep", "line\u2028sep"},
	} {
		body := r.AppendProblem(nil, []byte(c.detail), []byte("req-1"))
		if !utf8.Valid(body) {
			t.Errorf("%q: body is not valid UTF-8: %q", c.detail, body)
		}
		var p struct{ Detail string }
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%q: body is not JSON: %v\n%s", c.detail, err, body)
		}
		if p.Detail != c.want {
			t.Errorf("detail %q came back as %q", c.detail, p.Detail)
		}
		if strings.Contains(c.detail, "≤") && !strings.Contains(string(body), "≤") {
			t.Errorf("non-ASCII text escaped instead of kept: %s", body)
		}
	}
	// A detail cut at MaxDetail inside a rune still gives valid UTF-8.
	long := strings.Repeat("≤", MaxDetail) // 3 bytes each
	body := r.AppendProblem(nil, []byte(long), nil)
	var p struct{ Detail string }
	if err := json.Unmarshal(body, &p); err != nil || !utf8.Valid(body) || strings.ContainsRune(p.Detail, utf8.RuneError) || len(p.Detail) > MaxDetail {
		t.Errorf("a detail cut inside a rune: %q (%v)", p.Detail, err)
	}
}

func FuzzAppendJSONEscaped(f *testing.F) {
	f.Add("/qty: must be ≤ 1000")
	f.Add("\xff\x00\"\\\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		out := append([]byte{'"'}, appendJSONEscaped(nil, s)...)
		out = append(out, '"')
		var back string
		if err := json.Unmarshal(out, &back); err != nil || !utf8.Valid(out) {
			t.Fatalf("%q escaped to %q: %v", s, out, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q round-tripped to %q", s, back)
		}
	})
}
