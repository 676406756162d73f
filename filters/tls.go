package filters

import (
	"crypto/x509"
	"errors"
	"os"
)

// ErrNoCertificate reports a CA file without a PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate found")

// CertPool reads the PEM certificates of a CA file into a new pool: the
// roots a filter trusts for a private authorization server, or a listener
// for client certificates.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, ErrNoCertificate
	}
	return pool, nil
}
