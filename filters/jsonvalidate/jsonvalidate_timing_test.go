package jsonvalidate

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bytedance/sonic/ast"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// benchSchema describes an order; benchSmall (~200 B) and benchLarge
// (~64 KiB, 300+ lines with escapes) are valid against it.
const benchSchema = `{
  "type": "object",
  "required": ["id", "customer", "lines"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "customer": {"type": "object", "required": ["email"], "properties": {
      "email": {"type": "string", "format": "email"}, "name": {"type": "string", "maxLength": 64}}},
    "created": {"type": "string", "format": "date-time"},
    "currency": {"enum": ["EUR", "USD", "GBP"]},
    "lines": {"type": "array", "minItems": 1, "maxItems": 2000, "items": {
      "type": "object", "required": ["sku", "qty"], "additionalProperties": false, "properties": {
        "sku": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Z0-9-]+$"},
        "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
        "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
        "note": {"type": "string", "maxLength": 200}}}},
    "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}
  }
}`

const benchSmall = `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","customer":{"email":"ann@example.com"},"currency":"EUR","lines":[{"sku":"ABC-12345","qty":3,"price":19.99}],"created":"2024-05-01T12:00:00Z"}`

func benchLargeDoc() string {
	var b strings.Builder
	b.WriteString(`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","customer":{"email":"ann@example.com","name":"Ann \"A\" Example"},"currency":"EUR","tags":["a","b","c"],"lines":[`)
	for i := 0; b.Len() < 64<<10-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-` + strconv.Itoa(i) + `","qty":` + strconv.Itoa(i%1000+1) + `,"price":12.5,"note":"line\nbreak \u00e9"}`)
	}
	b.WriteString(`],"created":"2024-05-01T12:00:00Z"}`)
	return b.String()
}

var benchDocs = []struct{ name, doc string }{{"small", benchSmall}, {"64KiB", benchLargeDoc()}}

// BenchmarkValidate measures throughput and allocations of the validator
// driven by the package's scanner, by sonic's ast.Preorder, and of
// santhosh-tekuri/jsonschema (parse with its UnmarshalJSON, then Validate)
// on the same documents, so ratios come from one run.
func BenchmarkValidate(b *testing.B) {
	s := mustSchema(b, benchSchema)
	p := newPeer(b, benchSchema)
	for _, d := range benchDocs {
		b.Run(d.name+"/scanner", func(b *testing.B) {
			v := &validator{root: s.root, h: s.h, maxDepth: DefaultMaxDepth}
			b.SetBytes(int64(len(d.doc)))
			b.ReportAllocs()
			for b.Loop() {
				v.reset()
				if !v.run(d.doc) {
					b.Fatal(v.outcome())
				}
			}
		})
		b.Run(d.name+"/sonic-visitor", func(b *testing.B) {
			drv := newSonicDriver(s, DefaultMaxDepth)
			b.SetBytes(int64(len(d.doc)))
			b.ReportAllocs()
			for b.Loop() {
				drv.v.reset()
				if err := ast.Preorder(d.doc, drv, sonicOpts); err != nil {
					b.Fatal(drv.v.outcome())
				}
			}
		})
		b.Run(d.name+"/santhosh", func(b *testing.B) {
			b.SetBytes(int64(len(d.doc)))
			b.ReportAllocs()
			for b.Loop() {
				inst, err := jsonschema.UnmarshalJSON(strings.NewReader(d.doc))
				if err != nil {
					b.Fatal(err)
				}
				if err := p.s.Validate(inst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandle measures the whole filter on the small order, in
// parallel as the engine runs it.
func BenchmarkHandle(b *testing.B) {
	f := newTestFilter(b, "schema: "+strings.ReplaceAll(benchSchema, "\n", " ")+"\nquery: {page: {pattern: '^[0-9]+$', max_length: 6}}\nheaders: {X-Tenant: {required: true, pattern: '^[a-z]+$'}}\n")
	body := []byte(benchSmall)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := filtertest.NewStaticHeaders("Content-Type", "application/json", "X-Tenant", "acme")
		ex := filters.AcquireExchange()
		defer filters.ReleaseExchange(ex)
		for pb.Next() {
			fillExchange(ex, h, body)
			if v := f.Handle(ex); !v.IsContinue() {
				b.Fatal(string(ex.Detail()))
			}
		}
	})
}
