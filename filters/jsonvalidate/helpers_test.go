package jsonvalidate

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// sink keeps benchmark and alloc-test results alive.
var sink any

// testSpec returns a spec whose Decode strictly decodes src.
func testSpec(src string) filters.Spec { return filtertest.Spec("jsonvalidate", "orders", src, nil) }

// newTestFilter builds a filter from a YAML config block.
func newTestFilter(t testing.TB, src string) *Filter {
	t.Helper()
	f, err := build(testSpec(src))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return f
}

// compileMediaTypes compiles a media_types list, as build does.
func compileMediaTypes(entries []string) ([]mediaType, error) {
	var out []mediaType
	var errs []error
	for _, e := range entries {
		m, err := compileMediaType(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// mustSchema compiles a schema written in YAML or JSON.
func mustSchema(t testing.TB, src string) *Schema {
	t.Helper()
	s, err := compileBytes([]byte(src), "schema.json", "jsonvalidate")
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return s
}

// validate runs the scanner-driven validator; it returns "" for a valid
// document, else "malformed: detail" or "invalid: detail".
func (s *Schema) validate(doc string, maxDepth int) string {
	v := &validator{root: s.root, h: s.h, maxDepth: maxDepth}
	if v.run(doc) {
		return ""
	}
	return v.outcome()
}

func (v *validator) outcome() string {
	kind := "invalid: "
	if v.fail == failMalformed {
		kind = "malformed: "
	}
	return kind + string(v.appendDetail(nil))
}

// decide runs f on a request and returns "allow" or "status code detail".
func decide(f *Filter, method, target, contentType, body string, headers ...string) string {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	ex := filtertest.NewExchange(method, target, h, b)
	defer filters.ReleaseExchange(ex)
	v := f.Handle(ex)
	if v.IsContinue() {
		return "allow"
	}
	out := strconv.Itoa(v.Reason().Status) + " " + v.Reason().Code
	if d := ex.Detail(); len(d) > 0 {
		out += " " + string(d)
	}
	return out
}

var (
	methodPost = []byte("POST")
	pathOrders = []byte("/api/v1/orders")
	queryPage  = []byte("page=12&x=%41")
)

// fillExchange resets ex to a POST of body, without allocating.
func fillExchange(ex *filters.Exchange, h *filtertest.StaticHeaders, body []byte) {
	ex.Reset()
	ex.Method, ex.Path, ex.Query = methodPost, pathOrders, queryPage
	ex.Body = body
	ex.ContentLength = int64(len(body))
	ex.SetHeaders(h)
}

// compileBytes compiles a schema document held in memory.
func compileBytes(data []byte, file, filter string) (*Schema, error) {
	doc, err := parseDoc(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return Compile(doc, file, filter)
}
