package jwtauth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

var sink int

// BenchmarkHandle measures a whole Handle per algorithm, with the cache
// (a repeat token: the steady state behind one client) and without it
// (every request pays the signature: the honest per-token cost). The
// golang-jwt peer parses and verifies the same token with its defaults.
func BenchmarkHandle(b *testing.B) {
	k := testKeys(b)
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "HS256"} {
		var tok string
		if alg == "HS256" {
			tok = hsSign(b, alg, k.hs, `{"alg":"HS256"}`, claims(map[string]any{"iss": "https://hs.test"}))
		} else {
			tok = mint(b, alg, claims(nil))
		}
		auth := []byte("Bearer " + tok)
		for _, mode := range []struct{ name, top string }{{"cached", ""}, {"uncached", "cache: {max_entries: 0}\n"}} {
			b.Run(alg+"/"+mode.name, func(b *testing.B) {
				f := newFileFilter(b, "", hsIssuerYAML+string(k.hs)+"\n"+mode.top)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					h := filtertest.NewStaticHeaders("Authorization", string(auth))
					ex := exchange(h)
					defer filters.ReleaseExchange(ex)
					n := 0
					for pb.Next() {
						ex.Reset()
						ex.SetHeaders(h)
						if f.Handle(ex).IsContinue() {
							n++
						}
					}
					sink += n
				})
			})
		}
		if alg == "HS256" {
			continue
		}
		b.Run(alg+"/golang-jwt", func(b *testing.B) {
			pub := map[string]any{"RS256": &k.rsa.PublicKey, "ES256": &k.p256.PublicKey, "EdDSA": k.ed.Public()}[alg]
			p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithAudience("api"), jwt.WithIssuer(testIssuer),
				jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return testNow }))
			keyfunc := func(*jwt.Token) (any, error) { return pub, nil }
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					if t, err := p.Parse(tok, keyfunc); err == nil && t.Valid {
						n++
					}
				}
				sink += n
			})
		})
	}
}

// BenchmarkChainCacheHit is the hot path: one chain, a repeat token.
func BenchmarkChainCacheHit(b *testing.B) {
	f := newFileFilter(b, "", "")
	c := filters.NewChain(f)
	auth := "Bearer " + mint(b, "ES256", claims(nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := filtertest.NewStaticHeaders("Authorization", auth)
		ex := exchange(h)
		defer filters.ReleaseExchange(ex)
		for pb.Next() {
			ex.Reset()
			ex.SetHeaders(h)
			if c.Run(ex).IsContinue() {
				sink++
			}
		}
	})
}

// BenchmarkRefusal measures refusals that need no signature check.
func BenchmarkRefusal(b *testing.B) {
	f := newFileFilter(b, "", "")
	for _, c := range []struct{ name, auth string }{
		{"missing", ""},
		{"alg_none", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."},
		{"unknown_issuer", "Bearer " + mint(b, "ES256", claims(map[string]any{"iss": "https://evil.test"}))},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := filtertest.NewStaticHeaders()
			if c.auth != "" {
				h.Set("Authorization", []byte(c.auth))
			}
			ex := exchange(h)
			defer filters.ReleaseExchange(ex)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ex.Reset()
				ex.SetHeaders(h)
				if !f.Handle(ex).IsContinue() {
					sink++
				}
			}
		})
	}
}
