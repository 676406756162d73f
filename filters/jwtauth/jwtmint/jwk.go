package jwtmint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// RSAKeyBits is the size of generated RSA keys: the least the jwtauth
// filter accepts (RFC 7518 §3.3).
const RSAKeyBits = 2048

// JWK is a public JSON Web Key (RFC 7517 §4; RFC 7518 §6 for RSA and EC,
// RFC 8037 §2 for OKP).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKSet is a JWK Set document (RFC 7517 §5).
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// GenerateKey makes a new signing key for alg: RS256 (RSA 2048), ES256
// (P-256), ES384 (P-384) or EdDSA (Ed25519).
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "RS256":
		return rsa.GenerateKey(rand.Reader, RSAKeyBits)
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown algorithm %q (want RS256, ES256, ES384 or EdDSA)", alg)
}

// PublicJWK returns the public half of priv as a JWK (without kid, alg or
// use) and the JWS algorithm the key signs with.
func PublicJWK(priv crypto.Signer) (JWK, string, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return JWK{Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}, "RS256", nil
	case *ecdsa.PrivateKey:
		var crv, alg string
		switch k.Curve {
		case elliptic.P256():
			crv, alg = "P-256", "ES256"
		case elliptic.P384():
			crv, alg = "P-384", "ES384"
		default:
			return JWK{}, "", fmt.Errorf("unsupported EC curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return JWK{}, "", fmt.Errorf("cannot encode the EC public key: %w", err)
		}
		raw := pub.Bytes() // 0x04 || X || Y
		return JWK{Kty: "EC", Crv: crv, X: b64(raw[1 : 1+size]), Y: b64(raw[1+size:])}, alg, nil
	case ed25519.PrivateKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public().(ed25519.PublicKey))}, "EdDSA", nil
	}
	return JWK{}, "", fmt.Errorf("unsupported key type %T (want RSA, EC P-256/P-384 or Ed25519)", priv)
}

// SameKey reports whether two JWKs carry the same public key.
func SameKey(a, b JWK) bool {
	return a.Kty == b.Kty && a.Crv == b.Crv && a.N == b.N && a.E == b.E && a.X == b.X && a.Y == b.Y
}

// Thumbprint is the RFC 7638 JWK thumbprint of k: SHA-256 over the
// required members in lexicographic order, base64url.
func Thumbprint(k JWK) string {
	var m []byte
	switch k.Kty {
	case "RSA":
		m, _ = json.Marshal(struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{k.E, k.Kty, k.N})
	case "EC":
		m, _ = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{k.Crv, k.Kty, k.X, k.Y})
	default:
		m, _ = json.Marshal(struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{k.Crv, k.Kty, k.X})
	}
	sum := sha256.Sum256(m)
	return b64(sum[:])
}

// KIDIn returns the kid of pub in a JWK Set document. ok is false when
// the set does not hold the key: a token signed with it would not verify
// against that set.
func KIDIn(set []byte, pub JWK) (kid string, ok bool, err error) {
	var s JWKSet
	if err := json.Unmarshal(set, &s); err != nil {
		return "", false, fmt.Errorf("cannot parse the JWK Set: %w", err)
	}
	for _, k := range s.Keys {
		if SameKey(k, pub) {
			return k.Kid, true, nil
		}
	}
	return "", false, nil
}
