package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The differential test judges a few thousand generated tokens — valid
// ones, claim variations and byte-level mutations — with this package and
// with github.com/golang-jwt/jwt/v5 as an oracle, and requires the same
// accept/refuse verdict.
//
// The oracle is configured like the filter: strict base64, exp required,
// iat checked, the same leeway, audience and clock, and a key function
// that selects keys as the filter does (by iss, then kid, with the key
// type fixed by the key). Deliberate differences, where the filter is
// stricter, are generated on purpose, marked, and must show the filter
// refusing while the oracle accepts:
//
//   - crit, jwk, jku, x5u and x5c header parameters are refused (RFC 7515
//     §4.1.11, RFC 8725 §3.10); the oracle ignores them;
//   - a registered claim or alg/kid written twice is refused (RFC 7515 §4);
//     encoding/json keeps the last one;
//   - a sub that is not a string is refused; the oracle does not look at sub;
//   - a number outside float64 range in any claim makes encoding/json fail,
//     while the filter only converts the registered dates (not generated);
//   - RSASSA-PSS salts must be as long as the hash (RFC 7518 §3.5); the
//     oracle accepts any salt length (not generated: Go signs with the
//     hash length).

const diffHS = "https://hs.test"

type diffCase struct {
	token     string
	knownDiff string // non-empty: the filter must refuse, the oracle accept
}

func TestDifferentialAgainstGolangJWT(t *testing.T) {
	k := testKeys(t)
	// The oracle bounds iat with the general leeway; so does the filter here.
	f := newFileFilter(t, "", hsIssuerYAML+string(k.hs)+"\niat_leeway: 30s\n")
	f.cache = nil // judge every token on the slow path
	oracle := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"}),
		jwt.WithAudience("api"),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return testNow }),
	)
	pubs := map[string]any{
		"rsa1": &k.rsa.PublicKey, "ec256": &k.p256.PublicKey, "ec384": &k.p384.PublicKey,
		"ed": k.ed.Public(),
	}
	keyfunc := func(tok *jwt.Token) (any, error) {
		if kidV, ok := tok.Header["kid"]; ok {
			if _, ok := kidV.(string); !ok {
				return nil, errors.New("kid not a string")
			}
		}
		iss, _ := tok.Claims.(jwt.MapClaims)["iss"].(string)
		alg := tok.Method.Alg()
		hs := strings.HasPrefix(alg, "HS")
		switch {
		case iss == diffHS && hs:
			return k.hs, nil
		case iss != testIssuer || hs:
			return nil, errors.New("issuer or alg not configured")
		}
		kidV, hasKID := tok.Header["kid"]
		if hasKID {
			kid, ok := kidV.(string)
			if !ok {
				return nil, errors.New("kid not a string")
			}
			if key, ok := pubs[kid]; ok && keyFits(key, alg) {
				return key, nil
			}
			return nil, errors.New("no key")
		}
		var found any
		n := 0
		for _, key := range pubs {
			if keyFits(key, alg) {
				found, n = key, n+1
			}
		}
		if n != 1 {
			return nil, errors.New("no unique key")
		}
		return found, nil
	}

	n := 3000
	if testing.Short() || raceEnabled {
		n = 600
	}
	cases := genDiffCases(t, k, n)
	var accepted, refused, known int
	for i, c := range cases {
		code, ex, _ := run(t, f, "Bearer "+c.token)
		ours := code == ""
		_, err := oracle.Parse(c.token, keyfunc)
		theirs := err == nil
		if c.knownDiff != "" {
			known++
			if ours || !theirs {
				t.Errorf("case %d (%s): ours accepted=%v oracle accepted=%v (%v), want a deliberate refusal\n%s", i, c.knownDiff, ours, theirs, err, c.token)
			}
			continue
		}
		if ours != theirs {
			t.Errorf("case %d: ours accepted=%v (%s: %s), oracle accepted=%v (%v)\n%s", i, ours, code, ex.Detail(), theirs, err, c.token)
			continue
		}
		if ours {
			accepted++
		} else {
			refused++
		}
	}
	t.Logf("%d tokens: %d accepted by both, %d refused by both, %d deliberate differences", len(cases), accepted, refused, known)
	if accepted < len(cases)/5 || refused < len(cases)/5 {
		t.Fatalf("unbalanced corpus: %d accepted, %d refused", accepted, refused)
	}
}

func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		return (alg == "ES256" && k.Curve.Params().BitSize == 256) || (alg == "ES384" && k.Curve.Params().BitSize == 384)
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// genDiffCases builds n tokens from a fixed seed: about 40% valid tokens
// with benign variations, 30% with one fault in the header or claims, 25%
// valid tokens mutated after signing, 5% deliberate differences.
func genDiffCases(t *testing.T, k *testKeySet, n int) []diffCase {
	r := rand.New(rand.NewPCG(7, 11))
	algs := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"}
	now := testNow.Unix()
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	var out []diffCase
	for len(out) < n {
		alg := algs[r.IntN(len(algs))]
		hs := strings.HasPrefix(alg, "HS")
		iss := testIssuer
		if hs {
			iss = diffHS
		}
		var c diffCase
		mode := r.IntN(100)
		fault, known := mode >= 40 && mode < 70, mode >= 95

		// A valid token with benign variations.
		h := map[string]string{"alg": `"` + alg + `"`}
		if !hs && (alg != "ES256" && alg != "ES384" && alg != "EdDSA" || r.IntN(4) != 0) {
			h["kid"] = `"` + kidFor(alg) + `"` // the single-key types may omit it
		}
		if r.IntN(3) == 0 {
			h["typ"] = `"` + pick("JWT", "at+jwt") + `"`
		}
		if r.IntN(8) == 0 {
			h["ext"] = `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`
		}
		cl := map[string]string{
			"iss": `"` + iss + `"`,
			"aud": pick(`"api"`, `["x","api"]`, `"\u0061pi"`, `["api"]`),
			"exp": pick(num(now+600+r.Int64N(3600)), num(now-29), num(now+600)+".75", "1.9e9", "19e8"),
			"iat": pick(num(now-60), num(now+30), num(now-5)+".5"),
			"sub": `"user-` + num(r.Int64N(1000)) + `"`,
		}
		if r.IntN(3) == 0 {
			delete(cl, "iat")
		}
		if r.IntN(3) == 0 {
			cl["nbf"] = pick(num(now-10), num(now+30), "0")
		}
		if r.IntN(4) == 0 {
			cl["roles"] = `["viewer","x"]`
			cl["realm_access"] = `{"roles":["admin"],"n":[[[]]]}`
			cl["scope"] = `"a b"`
		}
		if r.IntN(10) == 0 {
			cl["sub"] = `"\u00e9\ud83d\ude00 \/"`
		}
		escISS := r.IntN(10) == 0

		if fault {
			switch r.IntN(20) {
			case 0:
				cl["iss"] = `"https://evil.test"`
			case 1:
				delete(cl, "iss")
			case 2:
				cl["iss"] = "42"
			case 3:
				cl["aud"] = `["x"]`
			case 4:
				delete(cl, "aud")
			case 5:
				cl["aud"] = pick(`[]`, `""`, `["api",1]`, `7`, `null`)
			case 6:
				cl["exp"] = pick(num(now-3600), num(now-30), "0", "-1")
			case 7:
				delete(cl, "exp")
			case 8:
				cl["exp"] = pick(`"`+num(now+600)+`"`, "null", "true", "1e400")
			case 9:
				cl["nbf"] = pick(num(now+31), num(now+3600), `"0"`, "null")
			case 10:
				cl["iat"] = pick(num(now+31), num(now+3600), `"0"`, "null")
			case 11:
				h["kid"] = pick(`"nope"`, `"ec384"`, `"ed"`, "7", "null")
			case 12:
				delete(h, "kid")
				if !hs {
					h["alg"] = `"` + pick("RS256", "PS384") + `"` // several RSA-kind keys? only one: stays valid
				}
			case 13:
				h["alg"] = pick(`"none"`, `"HS1"`, `"rs256"`, `7`, `"ES512"`)
			case 14:
				delete(h, "alg")
			case 15:
				cl["iss"] = `"` + map[bool]string{true: testIssuer, false: diffHS}[hs] + `"` // the other issuer
			case 16:
				cl["iss"] = `"` + iss + `/"`
			case 17:
				cl["extra"] = pick(`{"a":`, `[1,2`, `"\x"`, `01`, `1.`, `tru`, `"a`+""+`"`)
			case 18:
				h["alg"] = `"` + pick("HS256", "RS256", "ES256", "EdDSA", "PS512") + `"` // sign with what alg says, key of the old alg
			case 19:
				cl["aud"] = `"API"`
			}
		}
		if known {
			switch r.IntN(7) {
			case 0:
				h["crit"] = `["exp"]`
				c.knownDiff = "crit header"
			case 1:
				h["jwk"] = `{"kty":"oct","k":"AAAA"}`
				c.knownDiff = "jwk header"
			case 2:
				h[pick("jku", "x5u")] = `"https://evil.test/k"`
				c.knownDiff = "jku/x5u header"
			case 3:
				h["x5c"] = `["MIIB"]`
				c.knownDiff = "x5c header"
			case 4:
				cl["sub"] = pick("12", "null", `{"a":1}`)
				c.knownDiff = "sub not a string"
			case 5, 6:
				c.knownDiff = "duplicate member"
			}
		}
		header := renderObj(r, h, pick)
		payload := renderObj(r, cl, pick)
		if escISS {
			payload = strings.Replace(payload, `"iss":`, `"\u0069ss":`, 1)
		}
		if c.knownDiff == "duplicate member" {
			if r.IntN(2) == 0 {
				header = strings.Replace(header, "{", `{"alg":"`+alg+`",`, 1)
			} else {
				payload = strings.Replace(payload, "{", `{"exp":1,`, 1)
			}
		}
		signAlg := alg
		if fault && h["alg"] != `"`+alg+`"` {
			if a, err := strconv.Unquote(h["alg"]); err == nil && slices.Contains(algs, a) {
				signAlg = a // sign as the header says, with the key for that alg
			}
		}
		key := k.signer(signAlg)
		if fault && r.IntN(3) == 0 {
			key = k.signer(alg) // and sometimes with the key of the original alg
			if _, err := jwt.GetSigningMethod(signAlg).Sign("x", key); err != nil {
				key = k.signer(signAlg)
			}
		}
		tok := mintRaw(t, signAlg, key, header, payload)
		if mode >= 70 && mode < 95 {
			tok = mutate(r, t, k, tok)
		}
		c.token = tok
		out = append(out, c)
	}
	return out
}

// renderObj writes a JSON object with shuffled members and varied spacing.
func renderObj(r *rand.Rand, m map[string]string, pick func(...string) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	var b strings.Builder
	b.WriteString(pick("{", "{ ", "{\n  "))
	for i, k := range keys {
		if i > 0 {
			b.WriteString(pick(",", ", ", ",\n  "))
		}
		b.WriteString(`"` + k + `"` + pick(":", ": ", " : ") + m[k])
	}
	b.WriteString(pick("}", " }", "\n}"))
	return b.String()
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func mutate(r *rand.Rand, t *testing.T, k *testKeySet, tok string) string {
	parts := strings.Split(tok, ".")
	switch r.IntN(9) {
	case 0, 1, 2: // flip one character in one segment
		seg := r.IntN(3)
		if len(parts[seg]) == 0 {
			return tok
		}
		b := []byte(parts[seg])
		i := r.IntN(len(b))
		b[i] = b64Alphabet[r.IntN(len(b64Alphabet))]
		parts[seg] = string(b)
	case 3: // drop the signature
		parts[2] = ""
	case 4: // truncate the signature
		parts[2] = parts[2][:len(parts[2])/2]
	case 5: // alg none
		parts[0] = b64u([]byte(`{"alg":"none"}`))
		parts[2] = ""
	case 6: // swap alg, keep the signature
		parts[0] = b64u([]byte(`{"alg":"` + []string{"RS256", "ES256", "HS256", "PS256", "EdDSA"}[r.IntN(5)] + `","kid":"rsa1"}`))
	case 7: // alg confusion: HMAC keyed with the RSA public modulus
		return mintRaw(t, "HS256", k.rsa.PublicKey.N.Bytes(), `{"alg":"HS256","kid":"rsa1"}`, string(mustDecode(parts[1])))
	case 8: // extra segment or padding
		if r.IntN(2) == 0 {
			return tok + ".x"
		}
		parts[1] += "="
	}
	return strings.Join(parts, ".")
}

func mustDecode(s string) []byte {
	b, _ := b64.DecodeString(s)
	return b
}
