package jsonvalidate

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

func TestMediaType(t *testing.T) {
	defaults, err := compileMediaTypes(DefaultMediaTypes)
	if err != nil {
		t.Fatal(err)
	}
	f := func(ct string, want bool) {
		t.Helper()
		if got := allows(defaults, []byte(ct)); got != want {
			t.Errorf("%q: got %v, want %v", ct, got, want)
		}
	}
	f("application/json", true)
	f("Application/JSON", true)
	f("application/json;charset=utf-8", true)
	f("application/json ; charset=UTF8", true)
	f(`application/json; charset="UTF-8"; x=y`, true)
	f("application/json;", true) // an empty parameter (RFC 9110 §5.6.6)
	f("application/problem+json", true)
	f("application/merge-patch+json ; v=1", true)
	f(`application/json; x="a\"b;c"`, true)
	f("application/json; charset=utf-16", false)
	f("application/json; charset=latin1", false)
	f(`application/json; charset="utf-16"`, false)
	f("application/json; charset=utf-8; charset=latin1", false)
	f("application/json; Charset=utf-8; CHARSET=utf-8", false)
	f("application/json; charset", false)
	f("application/json; charset=", false)
	f("application/json; =utf-8", false)
	f(`application/json; x="open`, false)
	f("application/json x", false)
	f("application/json, text/plain", false)
	f("application/jsonx", false)
	f("application/x-json", false)
	f("application/+json", false)
	f("application/json+", false)
	f("text/json", false)
	f("text/json;", false)
	f("text/x+json", false) // only application/*+json by default
	f("application/", false)
	f("/json", false)
	f("json", false)
	f("", false)
	f(" application/json", false)
	f("application /json", false)
	f("application/json\x00", false)
	f("application/json; a=1; b=2; c=3; d=4; e=5; f=6; g=7; h=8; i=9", false)

	custom, err := compileMediaTypes([]string{"application/json", "application/vnd.api+json"})
	if err != nil {
		t.Fatal(err)
	}
	if !allows(custom, []byte("application/vnd.api+json")) || allows(custom, []byte("application/merge-patch+json")) {
		t.Error("an explicit list must admit exactly its types")
	}
}

func TestMediaTypesConfig(t *testing.T) {
	for _, bad := range []string{"json", "*/json", "application/*", "application/js on", "text/*+xml"} {
		if _, err := compileMediaTypes([]string{bad}); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	_, err := build(testSpec("schema: true\nmedia_types: []\ndecode: [gzip, brotli, GZIP]\n"))
	if err == nil || !strings.Contains(err.Error(), "media_types: list at least one media type") || !strings.Contains(err.Error(), `decode[1]: unknown coding "brotli"`) || !strings.Contains(err.Error(), `decode[2]: unknown coding "GZIP"`) {
		t.Fatalf("every error at once, got %v", err)
	}
}

// FuzzMediaType checks the Content-Type parser against the standard
// library's reading: whatever we accept, mime.ParseMediaType accepts as
// the same type, and the parser never panics.
func FuzzMediaType(f *testing.F) {
	f.Add([]byte("application/json; charset=utf-8"))
	f.Fuzz(func(t *testing.T, ct []byte) {
		typ, sub, ok := parseMediaType(ct)
		if !ok {
			return
		}
		// mime refuses the empty parameters RFC 9110 §5.6.6 allows.
		var kept []string
		for i, p := range strings.Split(string(ct), ";") {
			if i == 0 || strings.Trim(p, " \t") != "" {
				kept = append(kept, p)
			}
		}
		mt, params, err := mime.ParseMediaType(strings.Join(kept, ";"))
		if err != nil {
			if strings.Contains(string(ct), `\`) {
				return // mime is stricter than RFC 9110 about quoted-pairs
			}
			t.Fatalf("%q: accepted, but mime says %v", ct, err)
		}
		if mt != strings.ToLower(string(typ)+"/"+string(sub)) {
			t.Fatalf("%q: %s/%s, mime says %s", ct, typ, sub, mt)
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			t.Fatalf("%q: charset %q accepted", ct, cs)
		}
	})
}

func zstded(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// decideEncoded runs f on a POST whose body is body, sent with the given
// Content-Encoding (and Content-Type application/json).
func decideEncoded(f *Filter, encoding string, body []byte, extra ...string) string {
	h := http.Header{"Content-Type": {"application/json"}}
	if encoding != "" {
		h["Content-Encoding"] = []string{encoding}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = append(h[extra[i]], extra[i+1])
	}
	ex := filtertest.NewExchange("POST", "/api/v1/orders", h, body)
	defer filters.ReleaseExchange(ex)
	ex.SetHeaders(countingHeaders(h))
	v := f.Handle(ex)
	if v.IsContinue() {
		if !bytes.Equal(ex.Body, body) {
			return "body changed"
		}
		return "allow"
	}
	out := v.Reason().Code
	if d := ex.Detail(); len(d) > 0 {
		out += " " + string(d)
	}
	return out
}

// countingHeaders is a filters.Headers that can count fields, as the
// engines' adapter does.
type countingHeaders http.Header

func (h countingHeaders) Peek(name string) []byte {
	if v := http.Header(h).Values(name); len(v) > 0 {
		return []byte(v[0])
	}
	return nil
}
func (h countingHeaders) Set(name string, value []byte) { http.Header(h).Set(name, string(value)) }
func (h countingHeaders) Del(name string)               { http.Header(h).Del(name) }
func (h countingHeaders) Count(name string) int         { return len(http.Header(h).Values(name)) }

func TestContentEncoding(t *testing.T) {
	const schema = "schema: {type: object, properties: {qty: {type: integer, maximum: 1000}}}\nmax_bytes: 64KiB\n"
	plain := newTestFilter(t, schema)
	decoding := newTestFilter(t, schema+"decode: [gzip, zstd]\n")
	good, bad := []byte(`{"qty":5}`), []byte(`{"qty":5000}`)
	// A 16 MiB document of spaces: 16 KiB of gzip, under a kilobyte of zstd.
	huge := append(append([]byte(`{"qty":`), bytes.Repeat([]byte(" "), 16<<20)...), "1}"...)
	gzBomb, zsBomb := filtertest.Gzip(t, huge), zstded(t, huge)
	justOver := append(append([]byte(`{"qty":`), bytes.Repeat([]byte(" "), 64<<10-8)...), "1}"...)
	atLimit := append(append([]byte(`{"qty":`), bytes.Repeat([]byte(" "), 64<<10-9)...), "1}"...)

	cases := []struct {
		name     string
		f        *Filter
		encoding string
		body     []byte
		extra    []string
		want     string
	}{
		{"identity", plain, "identity", good, nil, "allow"},
		{"no coding", plain, "", good, nil, "allow"},
		{"gzip without opt-in", plain, "gzip", filtertest.Gzip(t, good), nil, "validate.unsupported_encoding accepted Content-Encoding: identity"},
		{"unknown coding", decoding, "br", good, nil, "validate.unsupported_encoding accepted Content-Encoding: identity, gzip, zstd"},
		{"a list of codings", decoding, "gzip, gzip", filtertest.Gzip(t, filtertest.Gzip(t, good)), nil, "validate.unsupported_encoding accepted Content-Encoding: identity, gzip, zstd"},
		{"two Content-Encoding fields", decoding, "gzip", filtertest.Gzip(t, good), []string{"Content-Encoding", "identity"}, "validate.unsupported_encoding accepted Content-Encoding: identity, gzip, zstd"},
		{"gzip", decoding, "gzip", filtertest.Gzip(t, good), nil, "allow"},
		{"x-gzip", decoding, "X-Gzip", filtertest.Gzip(t, good), nil, "allow"},
		{"zstd", decoding, "zstd", zstded(t, good), nil, "allow"},
		{"gzip, schema refused", decoding, "gzip", filtertest.Gzip(t, bad), nil, "validate.body_invalid /qty: must be ≤ 1000"},
		{"zstd, schema refused", decoding, "zstd", zstded(t, bad), nil, "validate.body_invalid /qty: must be ≤ 1000"},
		{"gzip bomb", decoding, "gzip", gzBomb, nil, "validate.body_too_large the decoded body exceeds the route's validation limit"},
		{"zstd bomb", decoding, "zstd", zsBomb, nil, "validate.body_too_large the decoded body exceeds the route's validation limit"},
		{"decoded one byte over", decoding, "gzip", filtertest.Gzip(t, justOver), nil, "validate.body_too_large the decoded body exceeds the route's validation limit"},
		{"decoded at the limit", decoding, "gzip", filtertest.Gzip(t, atLimit), nil, "allow"},
		{"not gzip", decoding, "gzip", good, nil, "validate.json_malformed the body cannot be decoded as its Content-Encoding says"},
		{"truncated gzip", decoding, "gzip", filtertest.Gzip(t, good)[:20], nil, "validate.json_malformed the body cannot be decoded as its Content-Encoding says"},
		{"two Content-Types", plain, "", good, []string{"Content-Type", "text/plain"}, "validate.unsupported_media_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := decideEncoded(c.f, c.encoding, c.body, c.extra...); !strings.HasPrefix(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
