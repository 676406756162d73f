package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// Material that Tollgate rows need besides their config: key files written
// into the target's directory, and the headers wrk must send.

// benchAPIKey is the API key the identity rows send; the config holds only
// its SHA-256.
const benchAPIKey = "tg_bench_7d41c2a9e0f35b86"

func apiKeyHash() string {
	sum := sha256.Sum256([]byte(benchAPIKey))
	return fmt.Sprintf("%x", sum)
}

// prepareAPIKey adds the header of the API-key rows.
func prepareAPIKey(_ string, req *request) error {
	req.Headers = append(req.Headers, "X-API-Key: "+benchAPIKey)
	return nil
}

// prepareJWT writes an RS256 JWKS to dir/jwks.json and adds an
// Authorization header with a token it verifies.
func prepareJWT(dir string, req *request) error {
	tokens, err := writeJWTKeys(dir, 1)
	if err != nil {
		return err
	}
	req.Headers = append(req.Headers, "Authorization: Bearer "+tokens[0])
	return nil
}

// prepareJWTs is prepareJWT with n different tokens, one per request in
// turn, so a token cache cannot answer.
func prepareJWTs(n int) func(string, *request) error {
	return func(dir string, req *request) error {
		tokens, err := writeJWTKeys(dir, n)
		if err != nil {
			return err
		}
		// The fixed header serves the readiness probe; wrk's request
		// function replaces it on every request.
		req.Headers = append(req.Headers, "Authorization: Bearer "+tokens[0])
		req.RotateHeader = "Authorization"
		for _, t := range tokens {
			req.RotateValues = append(req.RotateValues, "Bearer "+t)
		}
		return nil
	}
}

// writeJWTKeys makes an RS256 key, writes it as dir/jwks.json (Tollgate)
// and dir/jwt-pub.pem (HAProxy), and signs n tokens with distinct subjects.
func writeJWTKeys(dir string, n int) ([]string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "jwt-pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		return nil, err
	}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "bench"})
	now := time.Now()
	tokens := make([]string, 0, n)
	for i := 0; i < n; i++ {
		c, _ := json.Marshal(map[string]any{
			"iss": "https://idp.bench", "aud": "bench", "sub": fmt.Sprintf("bench-user-%d", i), "roles": []string{"viewer"},
			"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		})
		signing := b64(h) + "." + b64(c)
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, signing+"."+b64(sig))
	}
	return tokens, nil
}

// prepareAudit writes an audit signing key to dir/audit.key.
func prepareAudit(dir string, _ *request) error {
	skey, _, err := auditlog.GenerateKey("tollgate.bench/audit")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "audit.key"), []byte(skey), 0o600)
}

// prepareAuditShip writes an audit signing key whose origin names the
// row's directory: rows shipping to one database must not share an origin.
func prepareAuditShip(dir string, _ *request) error {
	skey, _, err := auditlog.GenerateKey("tollgate.bench/" + filepath.Base(dir))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "audit.key"), []byte(skey), 0o600)
}

// prepareFull prepares the full-pipeline rows: the JWT keys and token,
// and the audit signing key.
func prepareFull(dir string, req *request) error {
	if err := prepareJWT(dir, req); err != nil {
		return err
	}
	return prepareAudit(dir, req)
}
