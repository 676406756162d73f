package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// minRSABits is the smallest RSA modulus accepted from a key set (RFC 7518
// §3.3 requires 2048 bits or more).
const minRSABits = 2048

// maxKeys bounds the keys kept from one JWK Set.
const maxKeys = 64

// keyKind is the family of a verification key; a token's alg must name
// the same family (RFC 8725 §3.1: the key decides which algorithms may be
// used with it, never the token).
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindEd25519
)

// kindFor returns the key kind an asymmetric alg needs.
func kindFor(a alg) keyKind {
	switch a {
	case algRS256, algRS384, algRS512, algPS256, algPS384, algPS512:
		return kindRSA
	case algES256:
		return kindP256
	case algES384:
		return kindP384
	case algEdDSA:
		return kindEd25519
	}
	return 0
}

// publicKey is one verification key of a JWK Set (RFC 7517 §4).
type publicKey struct {
	kid  string
	kind keyKind
	alg  alg // the JWK's own alg, or algUnknown when it has none
	rsa  *rsa.PublicKey
	ec   *ecdsa.PublicKey
	ed   ed25519.PublicKey
	fp   [32]byte // SHA-256 of kty, kid and key material, to detect changes
}

// keySet is an immutable, parsed JWK Set.
type keySet struct {
	keys  []*publicKey
	byKID map[string][]*publicKey
	// epoch changes whenever a key is removed or replaced, so that tokens
	// verified with it drop out of the cache.
	epoch uint64
}

// keyLookup is the outcome of keySet.find.
type keyLookup uint8

const (
	keyFound     keyLookup = iota
	keyUnknown             // no key carries the kid
	keyWrongType           // a key carries the kid but does not fit the alg
	keyAmbiguous           // no kid, and several keys fit the alg
)

// find returns the key for kid whose kind (and own alg, if any) fits a.
// With no kid, the set's only key that fits is used: trying several keys
// would let one token cost several verifications.
func (s *keySet) find(kid []byte, hasKID bool, a alg) (*publicKey, keyLookup) {
	want := kindFor(a)
	if hasKID {
		ks := s.byKID[string(kid)]
		for _, k := range ks {
			if k.kind == want && (k.alg == algUnknown || k.alg == a) {
				return k, keyFound
			}
		}
		if len(ks) > 0 {
			return nil, keyWrongType
		}
		return nil, keyUnknown
	}
	var found *publicKey
	n := 0
	for _, k := range s.keys {
		if k.kind == want && (k.alg == algUnknown || k.alg == a) {
			found = k
			n++
		}
	}
	switch n {
	case 0:
		return nil, keyUnknown
	case 1:
		return found, keyFound
	}
	return nil, keyAmbiguous
}

// jwk is the wire form of one JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
}

// parseJWKS parses a JWK Set document. Keys this filter cannot or must not
// use (encryption keys, symmetric keys, unknown types and curves, weak RSA
// moduli) are skipped and counted; a document with no usable key is an
// error, so a broken refresh never replaces a good set.
func parseJWKS(data []byte) (*keySet, int, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("cannot parse JWK set: %w", err)
	}
	s := &keySet{byKID: make(map[string][]*publicKey)}
	skipped := 0
	for _, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped++
			continue
		}
		k, err := j.publicKey()
		if err != nil || len(s.keys) == maxKeys {
			skipped++
			continue
		}
		s.keys = append(s.keys, k)
		s.byKID[k.kid] = append(s.byKID[k.kid], k)
	}
	if len(s.keys) == 0 {
		return nil, skipped, errors.New("cannot use JWK set: it holds no usable signature verification key")
	}
	return s, skipped, nil
}

func (j *jwk) publicKey() (*publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, errors.New("not a signature key")
	}
	if len(j.KeyOps) > 0 {
		ok := false
		for _, op := range j.KeyOps {
			ok = ok || op == "verify"
		}
		if !ok {
			return nil, errors.New("key_ops does not allow verify")
		}
	}
	if j.D != "" {
		return nil, errors.New("private key in a public key set")
	}
	k := &publicKey{kid: j.Kid}
	if j.Alg != "" {
		if k.alg = parseAlg([]byte(j.Alg)); k.alg == algUnknown || k.alg == algNone || k.alg.isHMAC() {
			return nil, errors.New("unsupported alg")
		}
	}
	h := sha256.New()
	h.Write([]byte(j.Kty + "\x00" + j.Kid + "\x00" + j.Crv + "\x00"))
	switch j.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		ev := 0
		for _, c := range e {
			ev = ev<<8 | int(c)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
		if pub.N.BitLen() < minRSABits || ev < 3 || ev&1 == 0 {
			return nil, errors.New("weak RSA key")
		}
		k.kind, k.rsa = kindRSA, pub
		h.Write(n)
		h.Write(e)
	case "EC":
		var curve elliptic.Curve
		var size int
		switch j.Crv {
		case "P-256":
			curve, size, k.kind = elliptic.P256(), 32, kindP256
		case "P-384":
			curve, size, k.kind = elliptic.P384(), 48, kindP384
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC key")
		}
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, errors.New("bad EC point")
		}
		k.ec = pub
		h.Write(pt)
	case "OKP":
		x, err := b64.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("unsupported OKP key")
		}
		k.kind, k.ed = kindEd25519, ed25519.PublicKey(x)
		h.Write(x)
	default:
		return nil, errors.New("unsupported key type")
	}
	if k.alg != algUnknown && kindFor(k.alg) != k.kind {
		return nil, errors.New("alg does not fit the key type")
	}
	h.Write([]byte{byte(k.alg)})
	h.Sum(k.fp[:0])
	return k, nil
}

// nextEpoch returns the epoch for next, a set replacing prev: unchanged
// when next keeps every key of prev, else one more.
func nextEpoch(prev, next *keySet) uint64 {
	if prev == nil {
		return 1
	}
	have := make(map[[32]byte]bool, len(next.keys))
	for _, k := range next.keys {
		have[k.fp] = true
	}
	for _, k := range prev.keys {
		if !have[k.fp] {
			return prev.epoch + 1
		}
	}
	return prev.epoch
}
