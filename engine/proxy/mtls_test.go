package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tollgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue makes a leaf certificate; server leaves get 127.0.0.1 as SAN.
func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePair(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	kder, _ := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

const mtlsConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - name: public
    listen: 127.0.0.1:0
    tls: {cert: %[2]q, key: %[3]q, client_ca: %[4]q, client_auth: optional}
upstreams:
  - name: demo
    targets: [%[1]s]
    remove_headers: [X-Api-Key]
    set_headers: {Authorization: "Bearer backend-secret"}
routes:
  - name: echo
    path: /echo/*
    upstream: demo
    filters:
      - name: mtlsauth
        config:
          subject_header: X-Auth-Subject
          identities: [{common_name: billing-svc, principal: billing, roles: [caller]}]
      - name: rbac
        config:
          roles: {caller: {allow: [{methods: [GET], paths: ["/echo/**"]}]}}
`

func TestMutualTLSIdentityAndUpstreamCredentials(t *testing.T) {
	up := e2etest.StartUpstream(t)
	ca := newTestCA(t)
	certFile, keyFile := writePair(t, ca.issue(t, "127.0.0.1", true))
	p := startProxy(t, fmt.Sprintf(mtlsConfig, up.Addr, certFile, keyFile, ca.file))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	call := func(certs []tls.Certificate) e2etest.Response {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		req, _ := http.NewRequest("GET", "https://"+p.addr+"/echo/billing", nil)
		req.Header.Set("Authorization", "Bearer client-token")
		req.Header.Set("X-Api-Key", "client-key")
		req.Header.Set("X-Auth-Subject", "forged")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e e2etest.Echoed
		b := make([]byte, 64<<10)
		n, _ := resp.Body.Read(b)
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b[:n], &e); err != nil {
				t.Fatal(err)
			}
		}
		return e2etest.Response{Status: resp.StatusCode, Body: string(b[:n]), Header: resp.Header}
	}

	r := call([]tls.Certificate{ca.issue(t, "billing-svc", false)})
	if r.Status != 200 {
		t.Fatalf("mapped client certificate: %d %s", r.Status, r.Body)
	}
	var e e2etest.Echoed
	json.Unmarshal([]byte(r.Body), &e)
	if got := e.Header("X-Auth-Subject"); got != "billing" {
		t.Errorf("X-Auth-Subject = %q, want the certificate's principal", got)
	}
	if got := e.Header("Authorization"); got != "Bearer backend-secret" {
		t.Errorf("Authorization = %q: the client's credential must be replaced by the upstream's", got)
	}
	if got := e.Header("X-Api-Key"); got != "" {
		t.Errorf("X-Api-Key = %q: must be removed before the upstream", got)
	}
	e2etest.AssertProblem(t, call([]tls.Certificate{ca.issue(t, "intruder", false)}), 403, "authn.client_cert_unmapped")
	e2etest.AssertProblem(t, call(nil), 403, "authn.client_cert_missing")

	// A certificate from another CA fails the handshake.
	other := newTestCA(t)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{other.issue(t, "billing-svc", false)}}}}
	if resp, err := c.Get("https://" + p.addr + "/echo/billing"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from an unknown CA was accepted: %d", resp.StatusCode)
	}
}
