package jwtmint_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
	"github.com/tollgate-proxy/tollgate/filters/jwtauth"
	"github.com/tollgate-proxy/tollgate/filters/jwtauth/jwtmint"
)

// TestRoundTripThroughJWTAuth: for each kind of key, the key pair written
// by WriteKeyPair and a token signed by Sign are accepted by the jwtauth
// filter configured with that JWK Set alone — subject, roles, scopes and
// kid arrive in the identity — and a token signed by another key of the
// same kind under the same kid is refused.
func TestRoundTripThroughJWTAuth(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "ES384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			priv, err := jwtmint.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			kp, err := jwtmint.WriteKeyPair(filepath.Join(dir, "k"), priv, "k-"+alg)
			if err != nil {
				t.Fatal(err)
			}
			if kp.JWK.Alg != alg || kp.JWK.Kid != "k-"+alg {
				t.Fatalf("JWK %+v", kp.JWK)
			}
			back, err := jwtmint.ReadPrivateKey(kp.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			spec := filtertest.Spec("jwtauth", "r", "issuers:\n  - issuer: https://mint.test\n    audiences: [api]\n    jwks_file: "+kp.JWKSFile+"\n    algorithms: ["+alg+"]\n", nil)
			viewer, _ := spec.Roles.Intern("viewer")
			read, _ := spec.Scopes.Intern("orders:read")
			f, err := jwtauth.New(spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.(interface{ Close() error }).Close() })
			now := time.Now().Unix()
			c := jwtmint.Claims{Iss: "https://mint.test", Sub: "vera", Aud: "api", Iat: now, Nbf: now, Exp: now + 60,
				Roles: []string{"viewer"}, Scope: "orders:read", Extra: map[string]any{"tenant": "acme"}}
			tok, err := jwtmint.Sign(back, kp.JWK.Kid, c)
			if err != nil {
				t.Fatal(err)
			}
			ex := filtertest.NewExchange("GET", "/x", http.Header{"Authorization": {"Bearer " + tok}}, nil)
			defer filters.ReleaseExchange(ex)
			if v := f.Handle(ex); !v.IsContinue() {
				t.Fatalf("refused %s: %s", v.Reason().Code, ex.Detail())
			}
			id := &ex.Identity
			if string(id.Subject) != "vera" || string(id.KeyID) != "k-"+alg || id.Roles != 1<<uint(viewer) || id.Scopes != 1<<uint(read) {
				t.Errorf("identity %+v", id)
			}
			other, _ := jwtmint.GenerateKey(alg)
			forged, err := jwtmint.Sign(other, kp.JWK.Kid, c)
			if err != nil {
				t.Fatal(err)
			}
			ex2 := filtertest.NewExchange("GET", "/x", http.Header{"Authorization": {"Bearer " + forged}}, nil)
			defer filters.ReleaseExchange(ex2)
			if v := f.Handle(ex2); v.IsContinue() || v.Reason().Code != "authn.bad_signature" {
				t.Errorf("a token from another key: %v", v.Reason())
			}
		})
	}
}

// TestThumbprintRFC7638 checks the thumbprint against the example of RFC
// 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	k := jwtmint.JWK{Kty: "RSA", E: "AQAB", Kid: "2011-04-29",
		N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got, want := jwtmint.Thumbprint(k), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint %s, want %s", got, want)
	}
}

func TestWriteKeyPairNeverOverwrites(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "k")
	priv, _ := jwtmint.GenerateKey("EdDSA")
	kp, err := jwtmint.WriteKeyPair(prefix, priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(kp.KeyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	if len(kp.JWK.Kid) != 43 {
		t.Errorf("default kid %q is not a thumbprint", kp.JWK.Kid)
	}
	set, _ := os.ReadFile(kp.JWKSFile)
	if strings.Contains(string(set), `"d"`) {
		t.Error("the JWK Set holds the private key")
	}
	if kid, ok, err := jwtmint.KIDIn(set, kp.JWK); !ok || err != nil || kid != kp.JWK.Kid {
		t.Errorf("KIDIn: %q %v %v", kid, ok, err)
	}
	if _, err := jwtmint.WriteKeyPair(prefix, priv, ""); !errors.Is(err, jwtmint.ErrExists) {
		t.Errorf("second write: %v", err)
	}
	if _, err := jwtmint.GenerateKey("HS256"); err == nil {
		t.Error("HS256 key generated")
	}
}
