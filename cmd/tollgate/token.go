package main

// tollgate keygen and tollgate token: signing keys with their JWK Set, and
// signed JWTs for development and tests, accepted by the jwtauth filter.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/tollgate-proxy/tollgate/filters/jwtauth/jwtmint"
)

// Development defaults: `make run` creates the key and its JWK Set with
// `tollgate keygen --alg ES256 --kid jwt-dev --out data/jwt-dev`; the
// quickstart's jwtauth issuer and audience.
const (
	defaultTokenKey = "data/jwt-dev.key"
	defaultTokenIss = "https://tollgate.quickstart"
	defaultTokenAud = "quickstart"
)

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
	switch *algName {
	case "RS256", "ES256", "EdDSA":
	default:
		fmt.Fprintf(stderr, "tollgate keygen: unknown --alg %q (want RS256, ES256 or EdDSA)\n", *algName)
		return 2
	}
	priv, err := jwtmint.GenerateKey(*algName)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	kp, err := jwtmint.WriteKeyPair(*out, priv, *kid)
	if err != nil {
		if errors.Is(err, jwtmint.ErrExists) {
			err = fmt.Errorf("%w; remove it or choose another --out", err)
		}
		fmt.Fprintf(stderr, "tollgate keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s (%s, kid %s)\n", kp.KeyFile, kp.JWKSFile, kp.JWK.Alg, kp.JWK.Kid)
	return 0
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
	priv, err := jwtmint.ReadPrivateKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate token: %v\n", err)
		if *keyFile == defaultTokenKey && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(stderr, "tollgate token: 'make run' creates the quickstart's key; or pass --key FILE")
		}
		return 1
	}
	pub, _, err := jwtmint.PublicJWK(priv)
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
	c := jwtmint.Claims{Iss: *iss, Sub: *sub, Aud: *aud, Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(*ttl).Unix(), Scope: *scope}
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.Roles = append(c.Roles, r)
		}
	}
	tok, err := jwtmint.Sign(priv, *kid, c)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// sidecarKID returns the kid of pub in the JWK Set beside keyFile (FILE
// without .key, plus .jwks.json, as keygen writes it), "" if there is no
// such file. A set that does not hold the key is an error.
func sidecarKID(keyFile string, pub jwtmint.JWK) (string, error) {
	name := strings.TrimSuffix(keyFile, ".key") + ".jwks.json"
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	kid, ok, err := jwtmint.KIDIn(data, pub)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if !ok {
		return "", fmt.Errorf("%s does not hold the public key of %s; pass --kid", name, keyFile)
	}
	return kid, nil
}
