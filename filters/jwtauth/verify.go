package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
)

// pssOptions follow RFC 7518 §3.5: the salt is as long as the hash.
var pssOptions = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

// digest hashes msg with the hash of a, into d, and returns the hash id and
// the digest.
func digest(a alg, msg []byte, d *[64]byte) (crypto.Hash, []byte) {
	switch a {
	case algRS256, algPS256, algES256, algHS256:
		s := sha256.Sum256(msg)
		copy(d[:], s[:])
		return crypto.SHA256, d[:32]
	case algRS384, algPS384, algES384, algHS384:
		s := sha512.Sum384(msg)
		copy(d[:], s[:])
		return crypto.SHA384, d[:48]
	default:
		s := sha512.Sum512(msg)
		copy(d[:], s[:])
		return crypto.SHA512, d[:64]
	}
}

// verifySignature checks sig over input with the asymmetric key k, whose
// kind the caller has matched to a.
func verifySignature(a alg, k *publicKey, input, sig []byte) bool {
	if a == algEdDSA { // RFC 8037 §3.1: Ed25519 signs the message itself
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	}
	var d [64]byte
	h, sum := digest(a, input, &d)
	switch a {
	case algRS256, algRS384, algRS512: // RFC 7518 §3.3
		return rsa.VerifyPKCS1v15(k.rsa, h, sum, sig) == nil
	case algPS256, algPS384, algPS512: // RFC 7518 §3.5
		return rsa.VerifyPSS(k.rsa, h, sum, sig, &pssOptions) == nil
	case algES256, algES384: // RFC 7518 §3.4: R || S, each the curve's size
		size := 32
		if a == algES384 {
			size = 48
		}
		if len(sig) != 2*size {
			return false
		}
		var der [2 + 2*(2+49)]byte
		return ecdsa.VerifyASN1(k.ec, sum, appendECDSADER(der[:0], sig[:size], sig[size:]))
	}
	return false
}

// appendECDSADER appends the ASN.1 DER SEQUENCE { INTEGER r, INTEGER s }
// for the unsigned big-endian r and s (each at most 48 bytes, so every
// length fits in one byte).
func appendECDSADER(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	lr, ls := intLen(r), intLen(s)
	dst = append(dst, 0x30, byte(2+lr+2+ls))
	dst = appendInt(dst, r, lr)
	return appendInt(dst, s, ls)
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

func intLen(b []byte) int {
	if len(b) == 0 || b[0]&0x80 != 0 {
		return len(b) + 1
	}
	return len(b)
}

func appendInt(dst, b []byte, n int) []byte {
	dst = append(dst, 0x02, byte(n))
	if n > len(b) {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}

// hmacKey verifies HS256/384/512 (RFC 7518 §3.2) with one configured
// secret. MACs are pooled per hash, as hmac.New allocates.
type hmacKey struct {
	pools [3]sync.Pool
}

func newHMACKey(secret []byte) *hmacKey {
	k := &hmacKey{}
	news := [3]func() hash.Hash{sha256.New, sha512.New384, sha512.New}
	for i := range k.pools {
		fn := news[i]
		k.pools[i].New = func() any { return hmac.New(fn, secret) }
	}
	return k
}

func (k *hmacKey) verify(a alg, input, sig []byte) bool {
	p := &k.pools[a-algHS256]
	m := p.Get().(hash.Hash)
	m.Reset()
	m.Write(input)
	var d [64]byte
	ok := hmac.Equal(m.Sum(d[:0]), sig)
	p.Put(m)
	return ok
}
