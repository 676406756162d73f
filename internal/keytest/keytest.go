// Package keytest makes the key material config tests need — an audit
// signing key, a JWT signing key with its JWK Set, a TLS certificate, a CA
// and the client certificates it signs — in
// a test's own directory, so no key is ever committed.
package keytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// AuditKey writes an audit checkpoint signing key to dir/audit.key and
// returns its path.
func AuditKey(tb testing.TB, dir string) string {
	tb.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "test.tollgate/audit")
	if err != nil {
		tb.Fatal(err)
	}
	return write(tb, filepath.Join(dir, "audit.key"), []byte(skey+"\n"))
}

// JWT is an Ed25519 JWT signing key whose JWK Set is on disk.
type JWT struct {
	// JWKSFile is the JWK Set's path.
	JWKSFile string
	// Kid is the key id.
	Kid string
	key ed25519.PrivateKey
}

// NewJWT makes an Ed25519 key and writes its JWK Set to dir/jwt.jwks.json.
func NewJWT(tb testing.TB, dir string) *JWT {
	tb.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	j := &JWT{Kid: "test-1", key: key}
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": j.Kid, "x": b64(pub),
	}}})
	j.JWKSFile = write(tb, filepath.Join(dir, "jwt.jwks.json"), set)
	return j
}

// Token signs claims (exp and iat default to an hour from now and now).
func (j *JWT) Token(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	c := map[string]any{"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": j.Kid})
	body, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	signing := b64(h) + "." + b64(body)
	return signing + "." + b64(ed25519.Sign(j.key, []byte(signing)))
}

// TLS writes a self-signed certificate for 127.0.0.1 and its key to
// dir/server.crt and dir/server.key and returns both paths; the
// certificate also serves as a CA bundle.
func TLS(tb testing.TB, dir string) (cert, key string) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tollgate test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	cert = write(tb, filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	key = write(tb, filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return cert, key
}

// CA is a certificate authority made for a test: it signs client
// certificates for a listener's tls.client_ca.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// File is the CA certificate in PEM, for client_ca.
	File string
}

// NewCA makes a CA named name and writes its certificate to dir/name.crt.
func NewCA(tb testing.TB, dir, name string) *CA {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	file := write(tb, filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return &CA{Cert: cert, Key: k, File: file}
}

// Client issues a client certificate for common name cn that expires at
// notAfter, and writes it and its key to dir/cn.crt and dir/cn.key.
func (ca *CA) Client(tb testing.TB, dir, cn string, notAfter time.Time) (cert, key string) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	cert = write(tb, filepath.Join(dir, cn+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	key = write(tb, filepath.Join(dir, cn+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return cert, key
}

func write(tb testing.TB, path string, data []byte) string {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
