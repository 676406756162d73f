package jwtauth

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
)

// FuzzParse feeds arbitrary compact serializations to the JWS parser. It
// must never panic, and whatever it accepts as JSON must be JSON that
// encoding/json accepts too.
func FuzzParse(f *testing.F) {
	f.Add([]byte("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0IiwiZXhwIjoxfQ.c2ln"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte("..."))
	f.Add([]byte("a.b.c"))
	var t token
	f.Fuzz(func(tt *testing.T, raw []byte) {
		t.reset()
		res := t.parse(raw)
		if res != parseMalformed && !json.Valid(t.header) {
			tt.Fatalf("accepted header %q that encoding/json refuses", t.header)
		}
		if res == parseOK {
			if !json.Valid(t.payload) {
				tt.Fatalf("accepted claims %q that encoding/json refuses", t.payload)
			}
			if !bytes.HasPrefix(raw, t.signingInput) || bytes.Count(raw, []byte(".")) != 2 {
				tt.Fatalf("bad signing input %q", t.signingInput)
			}
		}
	})
}

// FuzzClaims checks the claim scanner against encoding/json: for every
// claims set it accepts, the registered claims it extracts are the ones
// encoding/json decodes, and the role and tenant lookups never panic.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"https://issuer.test","sub":"alice","aud":["api"],"exp":1800003600,"roles":["viewer"]}`), "realm_access.roles")
	f.Add([]byte(`{"iss":"a\u0062\/c","sub":"\ud83d\ude00","exp":1.5e9,"nbf":-1.25,"realm_access":{"roles":["admin"]}}`), "realm_access.roles")
	f.Add([]byte(`{"scope":"a b  c","aud":"x","exp":0}`), "scope")
	f.Add([]byte(` { "groups" : [ "a" , 1 , {"b":[]} ] , "exp" : 1e3 } `), "groups")
	f.Add([]byte(`{"sub":"\ud800x","exp":1}`), "sub")
	f.Add([]byte(`{"scp":["a",2,"b"],"scope":"b c","tenant":["x",true,3],"exp":1}`), "tenant")
	roles := testRoles()
	scopes := filters.NewRoles()
	for _, n := range []string{"a", "b", "c"} {
		scopes.Intern(n)
	}
	ff := &Filter{roles: roles, scopes: scopes}
	var t token
	f.Fuzz(func(tt *testing.T, payload []byte, path string) {
		t.reset()
		t.payload = payload
		t.str = make([]byte, 0, len(payload))
		ok := t.parseClaims()
		if ok {
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(payload))
			if err := d.Decode(&m); err != nil || d.More() {
				tt.Fatalf("accepted claims that encoding/json refuses: %v", err)
			}
			if t.hasIss && m["iss"] != string(t.iss) {
				tt.Fatalf("iss: scanner %q, encoding/json %q", t.iss, m["iss"])
			}
			if t.hasSub && m["sub"] != string(t.sub) {
				tt.Fatalf("sub: scanner %q, encoding/json %q", t.sub, m["sub"])
			}
			if t.hasExp {
				if v, isNum := m["exp"].(float64); !isNum || int64(math.Max(math.Min(math.Floor(v), 1<<53), -(1<<53))) != t.exp {
					tt.Fatalf("exp: scanner %d, encoding/json %v", t.exp, m["exp"])
				}
			}
		}
		p, okPath := claimPath(path)
		if !okPath || len(p) > 8 {
			return
		}
		is := &issuer{rolesPath: p, tenantPath: p, audiences: [][]byte{[]byte("api")}}
		if v := lookupPath(payload, p); v != nil && !json.Valid(v) && ok {
			tt.Fatalf("lookup returned invalid JSON %q", v)
		}
		ff.claimedRoles(&t, is)
		ff.claimedScopes(payload)
		// require_claims: presence agrees with encoding/json on a
		// top-level member, and a value check never panics.
		reqs, _ := compileClaims(map[string]any{path: claimPresent})
		vals, _ := compileClaims(map[string]any{path: []any{"a", true, 3}})
		failed := checkClaims(reqs, payload) != nil
		checkClaims(vals, payload)
		if ok && len(p) == 1 {
			var m map[string]any
			if json.Unmarshal(payload, &m) == nil {
				if present := m[path] != nil; present == failed {
					tt.Fatalf("require_claims %q: present per encoding/json %v, check failed %v", path, present, failed)
				}
			}
		}
		if ok && t.hasAud {
			var scratch [64]byte
			audMatches(t.aud, is.audiences, scratch[:0])
		}
	})
}

// FuzzHandle runs whole requests with arbitrary Authorization values.
func FuzzHandle(f *testing.F) {
	k := testKeys(f)
	ff := newFileFilter(f, "", hsIssuerYAML+string(k.hs)+"\n")
	f.Add("Bearer " + mint(f, "ES256", claims(nil)))
	f.Add("bearer " + mint(f, "EdDSA", claims(map[string]any{"aud": []string{"x", "api"}})))
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.")
	f.Add("Basic x")
	f.Fuzz(func(t *testing.T, auth string) {
		if strings.ContainsAny(auth, "\r\n") || http.Header.Get(http.Header{"Authorization": {auth}}, "Authorization") != auth {
			return
		}
		code, ex, _ := run(t, ff, auth)
		if code == "" && !ex.Identity.Verified {
			t.Fatalf("accepted without a verified identity")
		}
	})
}
