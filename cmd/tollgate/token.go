package main

// tollgate keygen and tollgate token: signing keys with their JWK Set, and
// signed JWTs for development and tests, accepted by the jwtauth filter.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"strings"
	"time"
)

// Development defaults: `make run` creates the key and its JWK Set with
// `tollgate keygen --alg ES256 --kid jwt-dev --out data/jwt-dev`; the
// quickstart's jwtauth issuer and audience.
const (
	defaultTokenKey = "data/jwt-dev.key"
	defaultTokenIss = "https://tollgate.quickstart"
	defaultTokenAud = "quickstart"
	rsaKeyBits      = 2048 // the least the jwtauth filter accepts (RFC 7518 §3.3)
)

// jwk is the public JWK written by keygen (RFC 7517, RFC 7518 §6, RFC 8037).
type jwk struct {
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

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publicJWK returns the public half of priv as a JWK (without kid, alg or
// use) and the JWS algorithm the key signs with.
func publicJWK(priv crypto.Signer) (jwk, string, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return jwk{Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}, "RS256", nil
	case *ecdsa.PrivateKey:
		var crv, alg string
		switch k.Curve {
		case elliptic.P256():
			crv, alg = "P-256", "ES256"
		case elliptic.P384():
			crv, alg = "P-384", "ES384"
		default:
			return jwk{}, "", fmt.Errorf("unsupported EC curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return jwk{}, "", err
		}
		raw := pub.Bytes() // 0x04 || X || Y
		return jwk{Kty: "EC", Crv: crv, X: b64(raw[1 : 1+size]), Y: b64(raw[1+size:])}, alg, nil
	case ed25519.PrivateKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public().(ed25519.PublicKey))}, "EdDSA", nil
	}
	return jwk{}, "", fmt.Errorf("unsupported key type %T (want RSA, EC P-256/P-384 or Ed25519)", priv)
}

// sameKey reports whether two JWKs carry the same public key.
func sameKey(a, b jwk) bool {
	return a.Kty == b.Kty && a.Crv == b.Crv && a.N == b.N && a.E == b.E && a.X == b.X && a.Y == b.Y
}

const keygenUsage = `usage: tollgate keygen [--alg RS256|ES256|EdDSA] [--kid ID] --out PREFIX

writes PREFIX.key (the private key, PKCS#8 PEM, mode 0600) and
PREFIX.jwks.json (a JWK Set with the public key, for a jwtauth issuer's
jwks_file); neither file may exist yet.
`

func keygenCmd(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("keygen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, keygenUsage); flags.PrintDefaults() }
	algName := flags.String("alg", "ES256", "RS256 (RSA 2048), ES256 (P-256) or EdDSA (Ed25519)")
	kid := flags.String("kid", "", "key id, written to the JWK Set and used by 'tollgate token' (default: the key's RFC 7638 thumbprint)")
	out := flags.String("out", "", "write PREFIX.key and PREFIX.jwks.json (required)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 || *out == "" {
		fmt.Fprint(stderr, "tollgate keygen: --out is required\n\n"+keygenUsage)
		return 2
	}
	var (
		priv crypto.Signer
		err  error
	)
	switch *algName {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		fmt.Fprintf(stderr, "tollgate keygen: unknown --alg %q (want RS256, ES256 or EdDSA)\n", *algName)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	pub, alg, err := publicJWK(priv)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	pub.Kid, pub.Alg, pub.Use = *kid, alg, "sig"
	if pub.Kid == "" {
		pub.Kid = thumbprint(pub)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	set, err := json.MarshalIndent(jwkSet{Keys: []jwk{pub}}, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	keyFile, jwksFile := *out+".key", *out+".jwks.json"
	for _, f := range []string{keyFile, jwksFile} {
		if _, err := os.Lstat(f); err == nil {
			fmt.Fprintf(stderr, "tollgate keygen: %s already exists; remove it or choose another --out\n", f)
			return 1
		}
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	if err := writeNew(jwksFile, append(set, '\n'), 0o644); err != nil {
		os.Remove(keyFile)
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s (%s, kid %s)\n", keyFile, jwksFile, alg, pub.Kid)
	return 0
}

// writeNew creates name with perm and data; it fails if name exists.
func writeNew(name string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// thumbprint is the RFC 7638 JWK thumbprint of k: SHA-256 over the
// required members in lexicographic order, base64url.
func thumbprint(k jwk) string {
	var m string
	switch k.Kty {
	case "RSA":
		m = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	case "EC":
		m = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	default:
		m = fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q}`, k.Crv, k.Kty, k.X)
	}
	sum := sha256.Sum256([]byte(m))
	return b64(sum[:])
}

const tokenUsage = `usage: tollgate token --sub SUBJECT [--roles a,b] [--scope "x y"] [--aud A] [--iss I] [--ttl 1h] [--key FILE] [--kid ID]

prints a signed JWT (compact JWS) on one line, for development and tests.
The algorithm follows the key: RSA signs RS256, EC P-256 ES256, P-384
ES384, Ed25519 EdDSA. The kid is --kid, else the kid of the matching key in
the JWK Set beside the key file (FILE without .key, plus .jwks.json, as
'tollgate keygen' writes it), else none. By default it signs with the
development key 'make run' creates, for the quickstart's issuer and
audience.
`

func tokenCmd(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, tokenUsage); flags.PrintDefaults() }
	keyFile := flags.String("key", defaultTokenKey, "private key, PKCS#8 PEM (from 'tollgate keygen')")
	kid := flags.String("kid", "", "key id for the JWS header (default: from the JWK Set beside the key)")
	sub := flags.String("sub", "", "subject (required)")
	roles := flags.String("roles", "", "comma-separated role names, the roles claim (a JSON array)")
	scope := flags.String("scope", "", "space-separated scopes, the scope claim")
	aud := flags.String("aud", defaultTokenAud, "audience")
	iss := flags.String("iss", defaultTokenIss, "issuer")
	ttl := flags.Duration("ttl", time.Hour, "lifetime: exp is now + ttl")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case flags.NArg() > 0:
		fmt.Fprintf(stderr, "tollgate token: unexpected argument %q\n\n%s", flags.Arg(0), tokenUsage)
		return 2
	case *sub == "":
		fmt.Fprint(stderr, "tollgate token: --sub is required\n\n"+tokenUsage)
		return 2
	case *ttl <= 0:
		fmt.Fprintf(stderr, "tollgate token: --ttl %v: want a positive duration\n", *ttl)
		return 2
	case *iss == "" || *aud == "":
		fmt.Fprint(stderr, "tollgate token: --iss and --aud cannot be empty\n")
		return 2
	}
	priv, err := readPrivateKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate token: %v\n", err)
		if *keyFile == defaultTokenKey && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(stderr, "tollgate token: 'make run' creates the quickstart's key; or pass --key FILE")
		}
		return 1
	}
	pub, alg, err := publicJWK(priv)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate token: %s: %v\n", *keyFile, err)
		return 1
	}
	if *kid == "" {
		if *kid, err = sidecarKID(*keyFile, pub); err != nil {
			fmt.Fprintf(stderr, "tollgate token: %v\n", err)
			return 1
		}
	}
	now := time.Now()
	c := claims{Iss: *iss, Sub: *sub, Aud: *aud, Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(*ttl).Unix(), Scope: *scope}
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.Roles = append(c.Roles, r)
		}
	}
	tok, err := signJWT(priv, alg, *kid, c)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// claims are the token's claims, in the order they are written.
type claims struct {
	Iss   string   `json:"iss"`
	Sub   string   `json:"sub"`
	Aud   string   `json:"aud"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	Roles []string `json:"roles,omitempty"`
	Scope string   `json:"scope,omitempty"`
}

// readPrivateKey reads a PEM private key: PKCS#8, or the PKCS#1 and SEC 1
// forms other tools write.
func readPrivateKey(name string) (crypto.Signer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", name)
	}
	var k any
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: a %q PEM block is not a private key", name, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T", name, k)
	}
	return s, nil
}

// sidecarKID returns the kid of pub in the JWK Set beside keyFile, "" if
// there is no such file. A set that does not hold the key is an error: a
// token signed with it would not verify against that set.
func sidecarKID(keyFile string, pub jwk) (string, error) {
	name := strings.TrimSuffix(keyFile, ".key") + ".jwks.json"
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	for _, k := range set.Keys {
		if sameKey(k, pub) {
			return k.Kid, nil
		}
	}
	return "", fmt.Errorf("%s does not hold the public key of %s; pass --kid", name, keyFile)
}

// signJWT returns the compact JWS of c signed with priv under alg.
func signJWT(priv crypto.Signer, alg, kid string, c claims) (string, error) {
	type header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}
	h, err := json.Marshal(header{Alg: alg, Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return "", err
	}
	input := b64(h) + "." + b64(bytes.TrimSuffix(body.Bytes(), []byte("\n")))
	var sig []byte
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var digest []byte
		if alg == "ES384" {
			s := sha512.Sum384([]byte(input))
			digest = s[:]
		} else {
			s := sha256.Sum256([]byte(input))
			digest = s[:]
		}
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, k, digest); err == nil {
			// JWS wants R || S, each the curve's size (RFC 7518 §3.4).
			size := (k.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		err = fmt.Errorf("unsupported key type %T", priv)
	}
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}
