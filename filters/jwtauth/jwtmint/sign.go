package jwtmint

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"math/big"
)

// Claims are the usual claims of a development token, written in this
// order; Extra adds or overrides members (require_claims tests, a tenant
// claim, scp).
type Claims struct {
	Iss   string         `json:"iss"`
	Sub   string         `json:"sub,omitempty"`
	Aud   string         `json:"aud"`
	Iat   int64          `json:"iat"`
	Nbf   int64          `json:"nbf,omitempty"`
	Exp   int64          `json:"exp"`
	Roles []string       `json:"roles,omitempty"`
	Scope string         `json:"scope,omitempty"`
	Extra map[string]any `json:"-"`
}

// MarshalJSON writes the claims set, Extra merged over the named members.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims
	b, err := marshal(plain(c))
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return marshal(m)
}

// marshal is json.Marshal without HTML escaping: a token's claims are
// not HTML.
func marshal(v any) ([]byte, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(body.Bytes(), []byte("\n")), nil
}

// Sign returns the compact JWS (RFC 7515 §7.1) of claims, any value that
// marshals to a JSON object, signed with priv under the algorithm the key
// decides (see PublicJWK), with kid in the header when it is not empty.
func Sign(priv crypto.Signer, kid string, claims any) (string, error) {
	_, alg, err := PublicJWK(priv)
	if err != nil {
		return "", err
	}
	h, err := marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{alg, "JWT", kid})
	if err != nil {
		return "", err
	}
	body, err := marshal(claims)
	if err != nil {
		return "", fmt.Errorf("cannot encode the claims: %w", err)
	}
	input := b64(h) + "." + b64(body)
	sig, err := signature(priv, alg, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// signature signs input as alg asks (RFC 7518 §3.3, §3.4; RFC 8037 §3.1).
func signature(priv crypto.Signer, alg string, input []byte) ([]byte, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var digest []byte
		if alg == "ES384" {
			s := sha512.Sum384(input)
			digest = s[:]
		} else {
			s := sha256.Sum256(input)
			digest = s[:]
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, fmt.Errorf("cannot sign: %w", err)
		}
		// JWS wants R || S, each the curve's size (RFC 7518 §3.4), not
		// the ASN.1 form crypto/ecdsa returns by default.
		size := (k.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		fill(r, sig[:size])
		fill(s, sig[size:])
		return sig, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", priv)
}

func fill(n *big.Int, dst []byte) { n.FillBytes(dst) }
