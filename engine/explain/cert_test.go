package explain

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

// mtlsConfig is a TLS listener that verifies client certificates against
// one CA, and a route that maps one of them to a role.
const mtlsConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - name: public
    listen: 127.0.0.1:0
    tls: {cert: %[2]q, key: %[3]q, client_ca: %[4]q, client_auth: optional}
upstreams:
  - {name: demo, targets: [%[1]s]}
routes:
  - name: echo
    path: /echo/*
    upstream: demo
    filters:
      - name: mtlsauth
        config:
          identities: [{common_name: billing-svc, principal: billing, roles: [caller]}]
      - name: rbac
        config:
          roles: {caller: {allow: [{methods: [GET], paths: ["/echo/**"]}]}}
`

// TestExplainAgreesOnClientCertificates holds explain --cert to what the
// proxy does with the same certificate over a real TLS connection
// (fasthttp: the engine that terminates TLS): a mapped certificate is
// forwarded or refused by rbac as explain says; a certificate the CA
// signed for no mapped identity is refused by mtlsauth; a certificate of
// another CA, or an expired one, fails the handshake, and explain says it
// would rather than explaining a request that never arrives.
func TestExplainAgreesOnClientCertificates(t *testing.T) {
	dir := t.TempDir()
	up := startRecorder(t)
	serverCert, serverKey := keytest.TLS(t, dir)
	ca := keytest.NewCA(t, dir, "clients-ca")
	other := keytest.NewCA(t, t.TempDir(), "other-ca")
	billing, billingKey := ca.Client(t, dir, "billing-svc", time.Now().Add(time.Hour))
	stranger, strangerKey := ca.Client(t, dir, "stranger-svc", time.Now().Add(time.Hour))
	expired, expiredKey := ca.Client(t, dir, "expired-svc", time.Now().Add(-time.Hour))
	forged, forgedKey := other.Client(t, t.TempDir(), "billing-svc", time.Now().Add(time.Hour))

	path := filepath.Join(dir, "mtls.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, mtlsConfig, up.addr, serverCert, serverKey, ca.File), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, path)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(must(os.ReadFile(serverCert)))

	for _, tc := range []struct {
		method, cert, key string
		handshake         bool // the handshake fails
	}{
		{method: "GET", cert: billing, key: billingKey},
		{method: "DELETE", cert: billing, key: billingKey},
		{method: "GET", cert: stranger, key: strangerKey},
		{method: "GET", cert: forged, key: forgedKey, handshake: true},
		{method: "GET", cert: expired, key: expiredKey, handshake: true},
	} {
		name := tc.method + " as " + strings.TrimSuffix(filepath.Base(tc.cert), ".crt")
		res, err := Run(Options{Path: path, Method: tc.method, Target: "/echo/x", CertFile: tc.cert})
		pair, perr := tls.LoadX509KeyPair(tc.cert, tc.key)
		if perr != nil {
			t.Fatal(perr)
		}
		status, reason, herr := tlsRequest(addr, roots, pair, tc.method+" /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		got := up.take()
		if tc.handshake {
			if err == nil || !strings.Contains(err.Error(), "the TLS handshake would fail") {
				t.Errorf("%s: explain: %v %+v, want the handshake to fail", name, err, res)
			}
			if herr == nil || len(got) != 0 {
				t.Errorf("%s: the proxy answered %d %s (upstream %q), want a failed handshake", name, status, reason, got)
			}
			continue
		}
		if err != nil || herr != nil {
			t.Fatalf("%s: explain %v, proxy %v", name, err, herr)
		}
		if !strings.Contains(res.Certificate, "CN="+strings.TrimSuffix(filepath.Base(tc.cert), ".crt")) || !strings.Contains(res.Certificate, "listener public") {
			t.Errorf("%s: certificate %q", name, res.Certificate)
		}
		t.Logf("%s: explain says %d %s; the proxy answered %d %s", name, res.Status, res.Reason, status, reason)
		if res.Reason == "" {
			if status != 200 || len(got) != 1 || got[0] != tc.method+" /echo/x" || res.Principal.Subject != "billing" {
				t.Errorf("%s: explain says forwarded for %+v; the client got %d, the upstream %q", name, res.Principal, status, got)
			}
			continue
		}
		if status != res.Status || reason != res.Reason || len(got) != 0 {
			t.Errorf("%s: explain says %d %s; the client got %d %s, the upstream %q", name, res.Status, res.Reason, status, reason, got)
		}
	}

	// Without a listener that verifies client certificates, --cert has
	// nothing to be verified by.
	plain := filepath.Join(dir, "plain.yaml")
	cfg := strings.Replace(string(must(os.ReadFile(path))), fmt.Sprintf(", client_ca: %q, client_auth: optional", ca.File), "", 1)
	if err := os.WriteFile(plain, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(Options{Path: plain, Method: "GET", Target: "/echo/x", CertFile: billing}); err == nil || !strings.Contains(err.Error(), "no listener") {
		t.Errorf("--cert without client_ca: %v", err)
	}
}

// tlsRequest sends raw over TLS with a client certificate and returns the
// status and problem reason; err is a failed handshake or read.
func tlsRequest(addr string, roots *x509.CertPool, cert tls.Certificate, raw string) (int, string, error) {
	// GetClientCertificate sends the certificate whatever CAs the server
	// names, as an attacker's client would (Go's own client would send
	// none that another CA signed).
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err // TLS 1.3: the server's refusal of the certificate arrives here
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	reason := ""
	if m := reasonField.FindStringSubmatch(b.String()); m != nil {
		reason = m[1]
	}
	return resp.StatusCode, reason, nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
