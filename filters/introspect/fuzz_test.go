package introspect

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// FuzzParseResponse feeds arbitrary bodies to the introspection response
// parser. It must never panic, and what it accepts must agree with
// encoding/json: the body is one JSON object, and active, sub and exp read
// the same. The oracle decodes numbers with UseNumber: a number out of
// float64 range in a member the filter does not read is not an error here
// (seed unregistered_out_of_range, found by fuzzing).
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`{"active":true,"sub":"alice","scope":"viewer admin","exp":1800003600,"aud":["api"],"realm_access":{"roles":["admin"]}}`), "realm_access.roles")
	f.Add([]byte(`{"active":false}`), "scope")
	f.Add([]byte(`{"active":true,"active":false}`), "scope")
	f.Add([]byte(` {"active" : true , "exp":1.5e9,"nbf":-1.25,"iss":null} `), "scope")
	f.Add([]byte(`{"active":true,"sub":"\ud800x","groups":["a",1,{"b":[]}]}`), "groups")
	f.Add([]byte(`{"active":true,"exp":1e400}`), "exp")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		p, ok := claimPath(path)
		if !ok || len(p) > 8 {
			p = []string{"scope"}
		}
		r, err := parseResponse(body, p, p)
		if err != nil {
			return
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || d.More() {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		if m["active"] != r.active {
			t.Fatalf("active: parser %v, encoding/json %v", r.active, m["active"])
		}
		if !r.active {
			return
		}
		// require_claims never panics, and presence of a top-level member
		// agrees with encoding/json.
		name := strings.Join(p, ".")
		present, _ := compileClaims(map[string]any{name: "present"})
		values, _ := compileClaims(map[string]any{name: []any{"a", true, 3}})
		checkClaims(values, r.members)
		if failed := checkClaims(present, r.members) != ""; len(p) == 1 && failed == (m[name] != nil) {
			t.Fatalf("require_claims %q: failed %v, encoding/json has %v", name, failed, m[name])
		}
		if s, isStr := m["sub"].(string); (isStr && s != r.sub) || (!isStr && r.sub != "") {
			t.Fatalf("sub: parser %q, encoding/json %v", r.sub, m["sub"])
		}
		if r.hasExp {
			n, isNum := m["exp"].(json.Number)
			v, err := n.Float64()
			if !isNum || err != nil || int64(math.Max(math.Min(math.Floor(v), 1<<53), -(1<<53))) != r.exp {
				t.Fatalf("exp: parser %d, encoding/json %v", r.exp, m["exp"])
			}
		} else if m["exp"] != nil {
			t.Fatalf("exp %v missed", m["exp"])
		}
	})
}

// FuzzCredential checks token extraction and the b64token syntax: an
// accepted token is a non-empty slice of the header value, free of
// whitespace, commas and quotes (it goes into a form body and the audit
// log's hints only as a hash, but must never smuggle structure).
func FuzzCredential(f *testing.F) {
	f.Add("Bearer abc.DEF-_~+/==")
	f.Add("bearer\tabc")
	f.Add("Basic x")
	f.Add("Bearer a b")
	f.Add("Bearer ==")
	fl := &Filter{bearer: true}
	f.Fuzz(func(t *testing.T, v string) {
		raw := fl.credential([]byte(v))
		if raw == nil {
			return
		}
		if !bytes.Contains([]byte(v), raw) {
			t.Fatalf("credential %q is not part of %q", raw, v)
		}
		if validToken(raw) && bytes.ContainsAny(raw, " \t\r\n,\"%&") {
			t.Fatalf("validToken accepted %q", raw)
		}
	})
}
