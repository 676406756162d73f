package jwtauth

import (
	"strings"
	"testing"
)

// TestRFC8037Vector verifies the Ed25519 JWS of RFC 8037 Appendix A.4
// with the public key of Appendix A.2 (the payload is not a claims set, so
// only the signature layer is checked).
func TestRFC8037Vector(t *testing.T) {
	ks, _, err := parseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	dot := strings.LastIndexByte(jws, '.')
	sig, err := b64.DecodeString(jws[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	k, st := ks.find(nil, false, algEdDSA)
	if st != keyFound {
		t.Fatalf("key lookup %d", st)
	}
	if !verifySignature(algEdDSA, k, []byte(jws[:dot]), sig) {
		t.Fatal("RFC 8037 A.4 signature does not verify")
	}
	sig[0] ^= 1
	if verifySignature(algEdDSA, k, []byte(jws[:dot]), sig) {
		t.Fatal("a flipped signature verifies")
	}
}
