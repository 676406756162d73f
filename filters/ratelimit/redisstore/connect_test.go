package redisstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters/ratelimit/redisstore"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

func takeOnce(s *redisstore.Store) error {
	_, err := s.Take(context.Background(), "test:{conn}", 1_000_000, 5_000_000, 1) // the key lives 1s
	return err
}

// TestAuth connects as an ACL user with its password, and is refused with
// a wrong one.
func TestAuth(t *testing.T) {
	srv := testredis.StartWith(t, testredis.Options{
		Args: []string{"--user", "limiter", "on", ">s3cret", "~tollgate:*", "~test:*", "+@all", "--user", "default", "off"},
		CLI:  []string{"--user", "limiter", "--pass", "s3cret"},
	})
	ok := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, Username: "limiter", Password: "s3cret"})
	if err := takeOnce(ok); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	bad := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, Username: "limiter", Password: "wrong"})
	if err := takeOnce(bad); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("with a wrong password: %v, want WRONGPASS", err)
	}
}

// TestTLS serves Redis over TLS with a CA and certificates made here, and
// requires a client certificate: the store connects with the CA file and
// its client certificate, and fails to verify without the CA.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "server", ca, caKey)
	writeCert(t, dir, "client", ca, caKey)
	p := func(n string) string { return filepath.Join(dir, n) }
	srv := testredis.StartWith(t, testredis.Options{
		TLS: true,
		Args: []string{"--tls-cert-file", p("server.pem"), "--tls-key-file", p("server.key"),
			"--tls-ca-cert-file", p("ca.pem"), "--tls-auth-clients", "yes"},
		CLI: []string{"--tls", "--cacert", p("ca.pem"), "--cert", p("client.pem"), "--key", p("client.key")},
	})
	ok := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, TLS: redisstore.TLSConfig{
		Enabled: true, CAFile: p("ca.pem"), CertFile: p("client.pem"), KeyFile: p("client.key"), ServerName: "localhost"}})
	if err := takeOnce(ok); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	noCA := newStore(t, redisstore.Options{Addresses: []string{srv.Addr}, DialTimeout: time.Second, TLS: redisstore.TLSConfig{
		Enabled: true, CertFile: p("client.pem"), KeyFile: p("client.key"), ServerName: "localhost"}})
	if err := takeOnce(noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
	if _, err := redisstore.New(redisstore.Options{Addresses: []string{srv.Addr}, TLS: redisstore.TLSConfig{Enabled: true, CertFile: p("client.pem")}}); err == nil {
		t.Fatal("a client certificate without its key was accepted")
	}
}

// writeCert writes NAME.pem and NAME.key under dir: a CA when parent is
// nil, else a certificate for localhost and 127.0.0.1 signed by it.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestSentinel finds the master through a Sentinel (redis-server
// --sentinel) watching it, by its master set name.
func TestSentinel(t *testing.T) {
	master := testredis.Start(t)
	sentinel := testredis.StartWith(t, testredis.Options{
		Conf: "sentinel monitor tollgate 127.0.0.1 " + strings.TrimPrefix(master.Addr, "127.0.0.1:") + " 1\n" +
			"sentinel resolve-hostnames no\n",
		Args: []string{"--sentinel"},
	})
	s := newStore(t, redisstore.Options{Addresses: []string{sentinel.Addr}, MasterSet: "tollgate", Timeout: time.Second})
	if err := takeOnce(s); err != nil {
		t.Fatalf("through the sentinel: %v", err)
	}
	if keys := master.Keys("test:*"); len(keys) != 1 {
		t.Fatalf("master holds %q, want the one key written through the sentinel", keys)
	}
}
