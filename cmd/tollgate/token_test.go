package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/filters/jwtauth"
)

var keyAlgs = []string{"RS256", "ES256", "EdDSA"}

// keygen runs 'tollgate keygen' for alg into a temp dir and returns the prefix.
func keygen(t *testing.T, alg, kid string) string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "k")
	args := []string{"keygen", "--alg", alg, "--out", prefix}
	if kid != "" {
		args = append(args, "--kid", kid)
	}
	out, errOut, code := runBinary(t, args...)
	if code != 0 {
		t.Fatalf("keygen %s: exit %d\n%s%s", alg, code, out, errOut)
	}
	return prefix
}

func TestKeygen(t *testing.T) {
	for _, alg := range keyAlgs {
		t.Run(alg, func(t *testing.T) {
			prefix := keygen(t, alg, "dev-"+alg)
			st, err := os.Stat(prefix + ".key")
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key mode %v, want 0600", st.Mode().Perm())
			}
			pemData, _ := os.ReadFile(prefix + ".key")
			if !strings.HasPrefix(string(pemData), "-----BEGIN PRIVATE KEY-----\n") {
				t.Errorf("key is not PKCS#8 PEM:\n%s", pemData)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			data, err := os.ReadFile(prefix + ".jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", data, err)
			}
			k := set.Keys[0]
			wantKty := map[string]string{"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[alg]
			if k["kid"] != "dev-"+alg || k["alg"] != alg || k["use"] != "sig" || k["kty"] != wantKty {
				t.Errorf("JWK %v", k)
			}
			if _, ok := k["d"]; ok {
				t.Error("the JWKS holds the private key")
			}
			// Never overwrites.
			if _, errOut, code := runBinary(t, "keygen", "--alg", alg, "--out", prefix); code != 1 || !strings.Contains(errOut, "already exists") {
				t.Errorf("second keygen: exit %d %s", code, errOut)
			}
		})
	}
	// Without --kid, the kid is the RFC 7638 thumbprint (43 base64url characters).
	data, _ := os.ReadFile(keygen(t, "EdDSA", "") + ".jwks.json")
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys[0].Kid) != 43 {
		t.Errorf("default kid: %s %v", data, err)
	}
}

func TestKeygenTokenUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"keygen"},
		{"keygen", "--alg", "HS256", "--out", filepath.Join(dir, "x")},
		{"keygen", "--bogus"},
		{"token"},
		{"token", "--sub", "vera", "--ttl", "-1m"},
		{"token", "--sub", "vera", "extra"},
	} {
		if _, errOut, code := runBinary(t, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, want 2 with a message: %s", args, code, errOut)
		}
	}
	if _, errOut, code := runBinary(t, "token", "--sub", "vera", "--key", filepath.Join(dir, "missing.key")); code != 1 || !strings.Contains(errOut, "missing.key") {
		t.Errorf("missing key: exit %d %s", code, errOut)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

func TestTokenClaims(t *testing.T) {
	prefix := keygen(t, "ES256", "quick")
	before := time.Now().Unix()
	out, errOut, code := runBinary(t, "token", "--key", prefix+".key", "--sub", "vera", "--roles", "viewer, editor",
		"--scope", "orders:read orders:write", "--ttl", "90s")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one line: %q", out)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", out)
	}
	var h map[string]string
	decodeSegment(t, parts[0], &h)
	if h["alg"] != "ES256" || h["kid"] != "quick" || h["typ"] != "JWT" {
		t.Errorf("header %v", h)
	}
	var c struct {
		Iss, Sub, Aud, Scope string
		Iat, Nbf, Exp        int64
		Roles                []string
	}
	decodeSegment(t, parts[1], &c)
	if c.Iss != "https://tollgate.quickstart" || c.Aud != "quickstart" || c.Sub != "vera" || c.Scope != "orders:read orders:write" ||
		strings.Join(c.Roles, ",") != "viewer,editor" {
		t.Errorf("claims %+v", c)
	}
	if c.Iat < before || c.Iat > time.Now().Unix() || c.Nbf != c.Iat || c.Exp != c.Iat+90 {
		t.Errorf("times %+v (before %d)", c, before)
	}
	// --kid overrides the JWKS; a JWKS that does not hold the key is an error.
	out, _, _ = runBinary(t, "token", "--key", prefix+".key", "--sub", "s", "--kid", "other", "--iss", "i", "--aud", "a")
	decodeSegment(t, strings.Split(out, ".")[0], &h)
	var c2 map[string]any
	decodeSegment(t, strings.Split(out, ".")[1], &c2)
	if h["kid"] != "other" || c2["iss"] != "i" || c2["aud"] != "a" || c2["roles"] != nil || c2["scope"] != nil {
		t.Errorf("header %v claims %v", h, c2)
	}
	other := keygen(t, "ES256", "x")
	if err := os.Rename(other+".jwks.json", prefix+".jwks.json"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runBinary(t, "token", "--key", prefix+".key", "--sub", "s"); code != 1 || !strings.Contains(errOut, "does not hold the public key") {
		t.Errorf("mismatched JWKS: exit %d %s", code, errOut)
	}
}

// TestTokenVerifiesWithJWTAuth: a token minted with each kind of key is
// accepted by the jwtauth filter configured with the JWKS keygen wrote;
// the identity carries the subject and roles, and a token for another
// audience or an expired one is refused.
func TestTokenVerifiesWithJWTAuth(t *testing.T) {
	for _, alg := range keyAlgs {
		t.Run(alg, func(t *testing.T) {
			prefix := keygen(t, alg, "dev-"+alg)
			roles := filters.NewRoles()
			viewer, _ := roles.Intern("viewer")
			if _, err := roles.Intern("editor"); err != nil {
				t.Fatal(err)
			}
			src := fmt.Sprintf("issuers:\n  - issuer: https://tollgate.quickstart\n    audiences: [quickstart]\n    jwks_file: %q\n    algorithms: [%s]\n", prefix+".jwks.json", alg)
			f, err := jwtauth.New(filtertest.Spec("jwtauth", "r", src, roles))
			if err != nil {
				t.Fatal(err)
			}
			defer f.(interface{ Close() error }).Close()
			handle := func(args ...string) (filters.Verdict, *filters.Exchange) {
				t.Helper()
				out, errOut, code := runBinary(t, append([]string{"token", "--key", prefix + ".key"}, args...)...)
				if code != 0 {
					t.Fatalf("token: exit %d %s", code, errOut)
				}
				ex := filtertest.NewExchange("GET", "/api/v1/customers/1", http.Header{"Authorization": {"Bearer " + strings.TrimSpace(out)}}, nil)
				return f.Handle(ex), ex
			}
			v, ex := handle("--sub", "vera", "--roles", "viewer")
			if !v.IsContinue() {
				t.Fatalf("refused: %s", v.Reason().Code)
			}
			if string(ex.Identity.Subject) != "vera" || !ex.Identity.Verified || string(ex.Identity.KeyID) != "dev-"+alg || ex.Identity.Roles != filters.RoleSet(1)<<viewer {
				t.Errorf("identity %+v", ex.Identity)
			}
			if v, _ := handle("--sub", "vera", "--aud", "elsewhere"); v.IsContinue() || v.Reason().Code != "authn.wrong_audience" {
				t.Errorf("wrong audience accepted")
			}
			if v, _ := handle("--sub", "vera", "--kid", "nope"); v.IsContinue() || v.Reason().Code != "authn.unknown_key" {
				t.Errorf("unknown kid accepted")
			}
		})
	}
}
