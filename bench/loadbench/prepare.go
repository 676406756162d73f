package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// prepareAPIKey returns the header of the API-key rows.
func prepareAPIKey(string) ([]string, error) {
	return []string{"X-API-Key: " + benchAPIKey}, nil
}

// prepareJWT writes an RS256 JWKS to dir/jwks.json and returns an
// Authorization header with a token it verifies.
func prepareJWT(dir string) ([]string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
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
	c, _ := json.Marshal(map[string]any{
		"iss": "https://idp.bench", "aud": "bench", "sub": "bench-user", "roles": []string{"viewer"},
		"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, err
	}
	return []string{"Authorization: Bearer " + signing + "." + b64(sig)}, nil
}

// prepareAudit writes an audit signing key to dir/audit.key.
func prepareAudit(dir string) ([]string, error) {
	skey, _, err := auditlog.GenerateKey("tollgate.bench/audit")
	if err != nil {
		return nil, err
	}
	return nil, os.WriteFile(filepath.Join(dir, "audit.key"), []byte(skey), 0o600)
}
