package jsonvalidate

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// ordersConfig is the quickstart's order route.
const ordersConfig = `
schema:
  type: object
  required: [sku, qty]
  additionalProperties: false
  properties:
    sku: {type: string, minLength: 1, maxLength: 32}
    qty: {type: integer, minimum: 1, maximum: 1000}
max_bytes: 4KiB
max_depth: 4
query:
  page: {pattern: "^[0-9]+$", max_length: 6}
  q: {required: false, max_length: 3}
headers:
  X-Tenant: {required: true, pattern: "^[a-z]+$"}
`

func TestHandle(t *testing.T) {
	f := newTestFilter(t, ordersConfig)
	const ct = "application/json"
	tenant := []string{"X-Tenant", "acme"}
	check := func(method, target, contentType, body string, want string, headers ...string) {
		t.Helper()
		if headers == nil {
			headers = tenant
		}
		if got := decide(f, method, target, contentType, body, headers...); got != want {
			t.Errorf("%s %s %q %q:\n got %q\nwant %q", method, target, contentType, body, got, want)
		}
	}
	// Valid.
	check("POST", "/orders", ct, `{"sku":"A-1","qty":3}`, "allow")
	check("POST", "/orders", "Application/JSON; charset=UTF-8", `{"sku":"A-1","qty":1000}`, "allow")
	check("POST", "/orders", "application/vnd.orders+json", ` {"qty":1,"sku":"\u0041"} `, "allow")
	check("POST", "/orders?page=12&q=ab", ct, `{"sku":"A","qty":1.0}`, "allow")
	check("GET", "/orders?page=1", "", "", "allow")
	// Schema violations name the pointer and the rule.
	check("POST", "/orders", ct, `{"sku":"A","qty":1001}`, "400 validate.body_invalid /qty: must be ≤ 1000")
	check("POST", "/orders", ct, `{"sku":"A","qty":0}`, "400 validate.body_invalid /qty: must be ≥ 1")
	check("POST", "/orders", ct, `{"sku":"A","qty":1.5}`, "400 validate.body_invalid /qty: must be of type integer")
	check("POST", "/orders", ct, `{"sku":"A","qty":1e400}`, "400 validate.body_invalid /qty: must be ≤ 1000")
	check("POST", "/orders", ct, `{"sku":"","qty":1}`, "400 validate.body_invalid /sku: must have at least 1 character")
	check("POST", "/orders", ct, `{"sku":"`+strings.Repeat("é", 33)+`","qty":1}`, "400 validate.body_invalid /sku: must have at most 32 characters")
	check("POST", "/orders", ct, `{"sku":"A"}`, `400 validate.body_invalid (root): missing required property "qty"`)
	check("POST", "/orders", ct, `{"sku":"A","qty":1,"a/b~":2}`, "400 validate.body_invalid /a~1b~0: property is not allowed")
	check("POST", "/orders", ct, `[]`, "400 validate.body_invalid (root): must be of type object")
	// Malformed JSON.
	check("POST", "/orders", ct, `{"sku":"A","qty":1,"sku":"B"}`, "400 validate.json_malformed /sku: duplicate key")
	check("POST", "/orders", ct, `{"sku":"A","qty":1} {}`, "400 validate.json_malformed invalid JSON at byte 20: trailing data after the JSON value")
	check("POST", "/orders", ct, "{\"sku\":\"\xff\",\"qty\":1}", "400 validate.json_malformed invalid JSON at byte 8: invalid UTF-8")
	check("POST", "/orders", ct, "{\"sku\":\"a\tb\",\"qty\":1}", "400 validate.json_malformed invalid JSON at byte 9: control character in string")
	check("POST", "/orders", ct, `{"sku":"A","qty":1e}`, "400 validate.json_malformed invalid JSON at byte 17: invalid number")
	check("POST", "/orders", ct, `{"sku":"A","qty":1,}`, "400 validate.json_malformed invalid JSON at byte 19: object key must be a string")
	check("POST", "/orders", ct, `{"sku":"\x","qty":1}`, "400 validate.json_malformed invalid JSON at byte 8: invalid escape in string")
	check("POST", "/orders", ct, ``, "400 validate.json_malformed invalid JSON at byte 0: unexpected end of input")
	check("DELETE", "/orders", ct, `{"sku":1}`, "400 validate.body_invalid /sku: must be of type string")
	// Media type and size.
	check("POST", "/orders", "", `{"sku":"A","qty":1}`, "415 validate.unsupported_media_type")
	check("POST", "/orders", "text/plain", `{"sku":"A","qty":1}`, "415 validate.unsupported_media_type")
	check("POST", "/orders", "application/json; charset=latin1", `{"sku":"A","qty":1}`, "415 validate.unsupported_media_type")
	check("POST", "/orders", "application/jsonx", `{"sku":"A","qty":1}`, "415 validate.unsupported_media_type")
	check("POST", "/orders", ct, `{"sku":"`+strings.Repeat("A", 5000)+`","qty":1}`, "413 validate.body_too_large")
	// Query and headers.
	check("POST", "/orders?page=x1", ct, `{"sku":"A","qty":1}`, `400 validate.query_invalid query parameter "page": must match the pattern ^[0-9]+$`)
	check("POST", "/orders?page=1234567", ct, `{"sku":"A","qty":1}`, `400 validate.query_invalid query parameter "page": must have at most 6 characters`)
	check("POST", "/orders?page=1&page=%zz", ct, `{"sku":"A","qty":1}`, `400 validate.query_invalid query parameter "page": invalid encoding`)
	check("POST", "/orders?p%61ge=a", ct, `{"sku":"A","qty":1}`, `400 validate.query_invalid query parameter "page": must match the pattern ^[0-9]+$`)
	check("POST", "/orders?q=a+bc", ct, `{"sku":"A","qty":1}`, `400 validate.query_invalid query parameter "q": must have at most 3 characters`)
	check("POST", "/orders", ct, `{"sku":"A","qty":1}`, "400 validate.header_invalid header X-Tenant: is required", "X-Other", "1")
	check("POST", "/orders", ct, `{"sku":"A","qty":1}`, "400 validate.header_invalid header X-Tenant: must match the pattern ^[a-z]+$", "X-Tenant", "ACME")
}

func TestRequiredQueryAndStreamedBody(t *testing.T) {
	f := newTestFilter(t, `
schema: {type: object}
query: {id: {required: true}}
`)
	if got, want := decide(f, "GET", "/x?a=1", "", ""), `400 validate.query_invalid query parameter "id": is required`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := decide(f, "GET", "/x?id=", "", ""); got != "allow" {
		t.Errorf("empty but present id: got %q", got)
	}
	// A body the engine streamed instead of buffering cannot be checked.
	ex := filters.AcquireExchange()
	defer filters.ReleaseExchange(ex)
	ex.Method, ex.Query, ex.ContentLength = []byte("POST"), []byte("id=1"), 100
	ex.SetHeaders(filtertest.NewStaticHeaders("Content-Type", "application/json"))
	v := f.Handle(ex)
	if v.IsContinue() || v.Reason().Status != 413 || !strings.Contains(string(ex.Detail()), "not buffered") {
		t.Fatalf("streamed body: got %v %q", v.Reason(), ex.Detail())
	}
}

func TestDetailIsBounded(t *testing.T) {
	s := mustSchema(t, `{"additionalProperties": {"additionalProperties": {"type": "integer"}}}`)
	long := strings.Repeat("k/", 200)
	got := s.validate(`{"`+long+`":{"`+long+`":"x"}}`, 8)
	if len(got) > 200 || !strings.Contains(got, "…") || !strings.HasSuffix(got, ": must be of type integer") {
		t.Fatalf("detail %d bytes: %q", len(got), got)
	}
}

func TestNumbers(t *testing.T) {
	f := func(a, b string, want int) {
		t.Helper()
		if got := parseDecimal(a).cmp(parseDecimal(b)); got != want {
			t.Errorf("cmp(%s, %s) = %d, want %d", a, b, got, want)
		}
	}
	f("1", "1.0", 0)
	f("-0", "0", 0)
	f("0.000", "0e10", 0)
	f("100", "1e2", 0)
	f("1e400", "1000", 1)
	f("-1e400", "-1000", -1)
	f("0.30000000000000004", "0.3", 1)
	f("123456789012345678901234567890", "123456789012345678901234567891", -1)
	f("1E-2", "0.01", 0)
	f("-2.5", "-2.50001", 1)
	f("1e-999999999999", "0", 1)
	m := func(v, by string, want bool) {
		t.Helper()
		d := parseDecimal(by)
		var mant uint64
		for i := int64(0); i < d.nd(); i++ {
			mant = mant*10 + uint64(d.digit(i)-'0')
		}
		if got := parseDecimal(v).isMultiple(multiple{mant: mant, exp: d.exp}); got != want {
			t.Errorf("%s multipleOf %s = %v, want %v", v, by, got, want)
		}
	}
	m("19.99", "0.01", true)
	m("0.3", "0.1", true)
	m("0.005", "0.01", false)
	m("4.5", "1.5", true)
	m("35", "1.5", false)
	m("1e400", "7", false)
	m("7e400", "7", true)
	m("123456789012345678901234567890", "3", true)
	m("0", "0.7", true)
	m("-14", "7", true)
	m("1e-400", "1e-3", false)
}

// TestSyntax checks the scanner against strictJSON, the independent
// reading of strict JSON, on a permissive schema: exactly the strict
// documents are accepted, the rest refused as malformed at the right byte.
func TestSyntax(t *testing.T) {
	s := mustSchema(t, `true`)
	f := func(doc, want string) {
		t.Helper()
		got := s.validate(doc, 4)
		if got != want {
			t.Errorf("%q: got %q, want %q", doc, got, want)
		}
		if strict := strictJSON([]byte(doc), 4); strict != (got == "") {
			t.Errorf("%q: reference says strict=%v, validator %q", doc, strict, got)
		}
	}
	ok := ""
	f(`0`, ok)
	f(` -0.5e+10 `, ok)
	f(`"\u00e9\ud83d\ude00\/"`, ok)
	f(`{"a":[1,{"b":null}],"c":true,"d":false}`, ok)
	f(`[[[[]]]]`, ok)
	f(`{"a":1,"\u0061":2}`, "malformed: /a: duplicate key")
	f(`[[[[[]]]]]`, "malformed: invalid JSON at byte 4: nesting is deeper than the limit")
	f(`01`, "malformed: invalid JSON at byte 1: trailing data after the JSON value")
	f(`[01]`, "malformed: invalid JSON at byte 2: expected ',' or the end of the container")
	f(`1.`, "malformed: invalid JSON at byte 0: invalid number")
	f(`.5`, "malformed: invalid JSON at byte 0: unexpected character")
	f(`-`, "malformed: invalid JSON at byte 0: invalid number")
	f(`+1`, "malformed: invalid JSON at byte 0: unexpected character")
	f(`tru`, "malformed: invalid JSON at byte 0: invalid literal")
	f(`nul`, "malformed: invalid JSON at byte 0: invalid literal")
	f(`truex`, "malformed: invalid JSON at byte 4: trailing data after the JSON value")
	f(`"abc`, "malformed: invalid JSON at byte 4: unexpected end of input")
	f(`"a\u12"`, "malformed: invalid JSON at byte 2: invalid escape in string")
	f(`{"a" 1}`, "malformed: invalid JSON at byte 5: expected ':' after object key")
	f(`{1:2}`, "malformed: invalid JSON at byte 1: object key must be a string")
	f(`[1 2]`, "malformed: invalid JSON at byte 3: expected ',' or the end of the container")
	f(`[1,]`, "malformed: invalid JSON at byte 3: unexpected character")
	f(`{"a":1]`, "malformed: invalid JSON at byte 6: expected ',' or the end of the container")
	f(`[`, "malformed: invalid JSON at byte 1: unexpected end of input")
	f(`{"a":`, "malformed: invalid JSON at byte 5: unexpected end of input")
	f(``, "malformed: invalid JSON at byte 0: unexpected end of input")
	f("\"\x00\"", "malformed: invalid JSON at byte 1: control character in string")
	f("\"\xed\xa0\x80\"", "malformed: invalid JSON at byte 1: invalid UTF-8")
	f("\xef\xbb\xbf{}", "malformed: invalid JSON at byte 0: unexpected character")
}

// TestConcurrent shares one filter between goroutines, as chains of
// several routes do; run with -race.
func TestConcurrent(t *testing.T) {
	f := newTestFilter(t, ordersConfig)
	bodies := []struct{ body, want string }{
		{`{"sku":"A","qty":1}`, "allow"},
		{`{"sku":"A","qty":1001}`, "400 validate.body_invalid /qty: must be ≤ 1000"},
		{`{"sku":"\u0041","qty":1,"sku":"B"}`, "400 validate.json_malformed /sku: duplicate key"},
	}
	done := make(chan string, 4)
	for g := range 4 {
		go func() {
			for i := range 300 {
				b := bodies[(i+g)%len(bodies)]
				if got := decide(f, "POST", "/o", "application/json", b.body, "X-Tenant", "acme"); got != b.want {
					done <- got
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if got := <-done; got != "" {
			t.Fatalf("unexpected outcome %q", got)
		}
	}
}
