package jwtmint

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrExists is returned by WriteKeyPair when a file it would write exists.
var ErrExists = errors.New("jwtmint: file already exists")

// KeyPair names the files WriteKeyPair wrote and the key's public JWK.
type KeyPair struct {
	KeyFile, JWKSFile string
	JWK               JWK // with kid, alg and use set
}

// WriteKeyPair writes priv as prefix.key (PKCS#8 PEM, mode 0600) and its
// public JWK Set as prefix.jwks.json (mode 0644, for a jwtauth issuer's
// jwks_file). kid defaults to the key's RFC 7638 thumbprint. Neither file
// may exist; on failure, nothing is left behind.
func WriteKeyPair(prefix string, priv crypto.Signer, kid string) (KeyPair, error) {
	pub, alg, err := PublicJWK(priv)
	if err != nil {
		return KeyPair{}, err
	}
	pub.Kid, pub.Alg, pub.Use = kid, alg, "sig"
	if pub.Kid == "" {
		pub.Kid = Thumbprint(pub)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyPair{}, fmt.Errorf("cannot encode the private key: %w", err)
	}
	set, err := json.MarshalIndent(JWKSet{Keys: []JWK{pub}}, "", "  ")
	if err != nil {
		return KeyPair{}, fmt.Errorf("cannot encode the JWK Set: %w", err)
	}
	kp := KeyPair{KeyFile: prefix + ".key", JWKSFile: prefix + ".jwks.json", JWK: pub}
	for _, f := range []string{kp.KeyFile, kp.JWKSFile} {
		if _, err := os.Lstat(f); err == nil {
			return KeyPair{}, fmt.Errorf("%s: %w", f, ErrExists)
		}
	}
	if err := writeNew(kp.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return KeyPair{}, err
	}
	if err := writeNew(kp.JWKSFile, append(set, '\n'), 0o644); err != nil {
		os.Remove(kp.KeyFile)
		return KeyPair{}, err
	}
	return kp, nil
}

// writeNew creates name with perm and data; it fails if name exists.
func writeNew(name string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", name, ErrExists)
		}
		return fmt.Errorf("cannot create %s: %w", name, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	return nil
}

// ReadPrivateKey reads a PEM private key file: PKCS#8, or the PKCS#1 and
// SEC 1 forms other tools write.
func ReadPrivateKey(name string) (crypto.Signer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// ParsePrivateKey parses the first PEM block of data as a private key.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a %q PEM block is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}
