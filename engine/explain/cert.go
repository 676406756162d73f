package explain

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// clientCert reads the PEM client certificate in file (the leaf first,
// then any intermediates) and verifies it as the TLS handshake of a
// listener with tls.client_ca does: against that listener's CAs, for
// client authentication, at the current time. It returns the leaf and a
// description naming the listeners that would accept it. A certificate no
// listener accepts is an error: such a client never gets as far as an
// HTTP request.
func (l *loaded) clientCert(file string) (*x509.Certificate, string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, "", fmt.Errorf("explain: --cert: %w", err)
	}
	var chain []*x509.Certificate
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, "", fmt.Errorf("explain: --cert %s: %w", file, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, "", fmt.Errorf("explain: --cert %s: no PEM certificate in the file", file)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	var accepted []string
	var refusals []error
	for _, lc := range l.cfg.Listeners {
		if lc.TLS == nil || lc.TLS.ClientCA == "" {
			continue
		}
		pool, err := filters.CertPool(lc.TLS.ClientCA)
		if err != nil {
			return nil, "", fmt.Errorf("explain: listener %s: cannot load client CA file %q: %w", lc.Name, lc.TLS.ClientCA, err)
		}
		_, err = chain[0].Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, CurrentTime: time.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			refusals = append(refusals, fmt.Errorf("listener %s: %w", lc.Name, err))
			continue
		}
		accepted = append(accepted, lc.Name)
	}
	switch {
	case len(accepted) > 0:
		return chain[0], fmt.Sprintf("%s, verified by the client_ca of listener %s", chain[0].Subject, strings.Join(accepted, ", ")), nil
	case len(refusals) == 0:
		return nil, "", fmt.Errorf("explain: --cert: no listener of %s verifies client certificates (tls.client_ca)", l.cfg.Path)
	default:
		return nil, "", fmt.Errorf("explain: --cert %s: the TLS handshake would fail: %w", file, errors.Join(refusals...))
	}
}
