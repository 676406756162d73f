package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testNow is the fixed clock of most tests.
var testNow = time.Unix(1_800_000_000, 0)

const testIssuer = "https://issuer.test"

// testKeySet holds keys generated once per test binary (RSA generation is
// slow on a shared machine).
type testKeySet struct {
	rsa, rsa2 *rsa.PrivateKey
	p256      *ecdsa.PrivateKey
	p384      *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	hs        []byte
}

var (
	keysOnce sync.Once
	keysVal  *testKeySet
)

func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		k := &testKeySet{}
		var err error
		if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
		k.hs = make([]byte, 64)
		rand.Read(k.hs)
		for i := range k.hs { // printable, as it would be in YAML
			k.hs[i] = 'a' + k.hs[i]%26
		}
		keysVal = k
	})
	return keysVal
}

// signer returns the private key used for alg.
func (k *testKeySet) signer(alg string) any {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return k.rsa
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "EdDSA":
		return k.ed
	}
	return k.hs
}

// kidFor is the kid under which the key for alg is published.
func kidFor(alg string) string {
	switch alg {
	case "ES256":
		return "ec256"
	case "ES384":
		return "ec384"
	case "EdDSA":
		return "ed"
	}
	return "rsa1"
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf renders the public JWK of priv under kid.
func jwkOf(kid string, priv any) map[string]any {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		crv := "P-256"
		if size == 48 {
			crv = "P-384"
		}
		pub, _ := k.PublicKey.Bytes()
		return map[string]any{"kty": "EC", "kid": kid, "crv": crv, "x": b64u(pub[1 : 1+size]), "y": b64u(pub[1+size:])}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(k.Public().(ed25519.PublicKey))}
	}
	panic("unknown key type")
}

func jwksDoc(jwks ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": jwks})
	return b
}

// standardJWKS publishes every test key under its kidFor name.
func (k *testKeySet) standardJWKS() []byte {
	return jwksDoc(jwkOf("rsa1", k.rsa), jwkOf("ec256", k.p256), jwkOf("ec384", k.p384), jwkOf("ed", k.ed))
}

// mintRaw signs exactly the given header and claims JSON.
func mintRaw(t testing.TB, alg string, key any, header, claims string) string {
	t.Helper()
	input := b64u([]byte(header)) + "." + b64u([]byte(claims))
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %s", alg)
	}
	sig, err := m.Sign(input, key)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + b64u(sig)
}

// claims returns a valid claims set for the test issuer, with overrides;
// a nil value deletes a claim.
func claims(over map[string]any) string {
	c := map[string]any{
		"iss":   testIssuer,
		"sub":   "alice",
		"aud":   "api",
		"exp":   testNow.Add(time.Hour).Unix(),
		"iat":   testNow.Add(-time.Minute).Unix(),
		"roles": []string{"viewer"},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// mint signs claims with the test key for alg under its usual kid.
func mint(t testing.TB, alg, claimsJSON string) string {
	t.Helper()
	k := testKeys(t)
	return mintRaw(t, alg, k.signer(alg), `{"alg":"`+alg+`","kid":"`+kidFor(alg)+`","typ":"JWT"}`, claimsJSON)
}

// testSpec returns a spec whose Decode strictly decodes src, sharing roles.
func testSpec(src string, roles *filters.Roles) filters.Spec {
	return filtertest.Spec("jwtauth", "test", src, roles)
}

// testRoles returns a role table with the usual names.
func testRoles() *filters.Roles {
	r := filters.NewRoles()
	for _, n := range []string{"viewer", "editor", "admin", "billing:read"} {
		if _, err := r.Intern(n); err != nil {
			panic(err)
		}
	}
	return r
}

// writeFile writes data into a new file in dir.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newFileFilter builds a filter over the standard JWKS in a temp file, with
// extra YAML appended to the issuer entry and to the top level.
func newFileFilter(t testing.TB, issuerExtra, topExtra string) *Filter {
	t.Helper()
	k := testKeys(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "jwks.json", k.standardJWKS())
	y := "issuers:\n  - issuer: " + testIssuer + "\n    audiences: [api]\n    jwks_file: " + path + "\n" + issuerExtra + topExtra
	f, err := newFilter(testSpec(y, testRoles()), options{now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("newFilter: %v\n%s", err, y)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// exchange returns a fresh exchange carrying the given headers.
func exchange(h *filtertest.StaticHeaders) *filters.Exchange {
	ex := filters.AcquireExchange()
	ex.Method = []byte("GET")
	ex.Path = []byte("/api/x")
	ex.SetHeaders(h)
	return ex
}

// run handles one request with an Authorization header (if token != "")
// and returns the verdict's reason code ("" when allowed), the exchange
// and its headers. The caller releases nothing: the exchange is released
// at cleanup.
func run(t testing.TB, f *Filter, auth string, extra ...string) (string, *filters.Exchange, *filtertest.StaticHeaders) {
	t.Helper()
	h := filtertest.NewStaticHeaders(extra...)
	if auth != "" {
		h.Set("Authorization", []byte(auth))
	}
	ex := exchange(h)
	t.Cleanup(func() { filters.ReleaseExchange(ex) })
	v := f.Handle(ex)
	if v.IsContinue() {
		return "", ex, h
	}
	return v.Reason().Code, ex, h
}

func respHeader(ex *filters.Exchange, name string) string {
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		if k, v := ex.ResponseHeader(i); k == name {
			return string(v)
		}
	}
	return ""
}

// hsSign mints an HMAC token with an arbitrary secret.
func hsSign(t testing.TB, alg string, secret []byte, header, claimsJSON string) string {
	return mintRaw(t, alg, secret, header, claimsJSON)
}

var _ = crypto.SHA256
