package jsonvalidate

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// gen builds random schemas of the supported subset and documents aimed at
// them: mostly near-valid, with mutations that cross one rule, plus
// adversarial number and string forms.
type gen struct{ r *rand.Rand }

var (
	genNames    = []string{"a", "b", "sku", "qty", "x/y", "t~1", "é", ""}
	genPatterns = []string{`^[a-z]+$`, `\d`, `^.{2,4}$`, `é`, `^[A-Z]{3}-[0-9]+$`, `a|b`}
	genNumbers  = []string{"0", "1", "-1", "2", "3", "7", "10", "1.5", "0.5", "-0.5", "2.5", "1000", "1001", "999.999",
		"1.0", "1e2", "1E-2", "0.1", "0.30000000000000004", "-0", "100.00", "12345678901234567890123", "1e-7", "3.0e1", "0.01", "19.99"}
	genMultiples = []string{"0.5", "0.01", "3", "7", "0.1", "1e-3", "2.5", "1"}
	genStrings   = []string{"", "a", "ab", "abc", "abcd", "ABC-12", "x1", "é", "😀😀", "aé😀", "a\"b", "line\nbreak", "<tag>&", "\u0000x",
		"2024-05-01T12:00:00Z", "2024-02-30T12:00:00Z", "1998-12-31T23:59:60Z", "2024-05-01t12:00:00.5+02:00", "2024-05-01T12:00:00",
		"7c9e6679-7425-40de-944b-e07fc1f90ae7", "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "7c9e6679742540de944be07fc1f90ae7", "7c9e6679-7425-40de-944b-e07fc1f90ae",
		"a@example.com", "a.b@example.com", "a..b@example.com", "a@[127.0.0.1]", "a@-x.com", "no-at-sign", "\"q s\"@example.com"}
)

func (g *gen) pick(n int) int        { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func num(s string) json.Number { return json.Number(s) }

// schema returns a random schema (as a JSON-ready value).
func (g *gen) schema(depth int) any {
	if depth > 3 || g.chance(0.05) {
		if g.chance(0.3) {
			return g.chance(0.7)
		}
		return map[string]any{}
	}
	s := map[string]any{}
	kinds := []string{"object", "array", "string", "number", "integer", "boolean", "null"}
	k := kinds[g.pick(len(kinds))]
	if g.chance(0.85) {
		if g.chance(0.15) {
			s["type"] = []any{k, kinds[g.pick(len(kinds))]}
			if s["type"].([]any)[0] == s["type"].([]any)[1] {
				s["type"] = k
			}
		} else {
			s["type"] = k
		}
	}
	switch k {
	case "object":
		props := map[string]any{}
		for range g.pick(4) {
			props[genNames[g.pick(len(genNames))]] = g.schema(depth + 1)
		}
		if len(props) > 0 || g.chance(0.3) {
			s["properties"] = props
		}
		if g.chance(0.5) {
			req := []any{}
			seen := map[string]bool{}
			for range g.pick(3) {
				n := genNames[g.pick(len(genNames))]
				if !seen[n] {
					seen[n] = true
					req = append(req, n)
				}
			}
			s["required"] = req
		}
		switch g.pick(4) {
		case 0:
			s["additionalProperties"] = false
		case 1:
			s["additionalProperties"] = g.schema(depth + 1)
		}
		if g.chance(0.2) {
			s["minProperties"] = g.pick(3)
		}
		if g.chance(0.2) {
			s["maxProperties"] = g.pick(4)
		}
	case "array":
		if g.chance(0.7) {
			s["items"] = g.schema(depth + 1)
		}
		if g.chance(0.3) {
			var pre []any
			for range 1 + g.pick(2) {
				pre = append(pre, g.schema(depth+1))
			}
			s["prefixItems"] = pre
		}
		if g.chance(0.2) {
			s["minItems"] = g.pick(3)
		}
		if g.chance(0.2) {
			s["maxItems"] = g.pick(4)
		}
		if g.chance(0.4) {
			s["uniqueItems"] = g.chance(0.8)
		}
	case "string":
		if g.chance(0.3) {
			s["minLength"] = g.pick(3)
		}
		if g.chance(0.3) {
			s["maxLength"] = g.pick(5)
		}
		if g.chance(0.25) {
			s["pattern"] = genPatterns[g.pick(len(genPatterns))]
		}
		if g.chance(0.3) {
			s["format"] = []string{"date-time", "uuid", "email"}[g.pick(3)]
		}
	case "number", "integer":
		for _, kw := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} {
			if g.chance(0.25) {
				s[kw] = num(genNumbers[g.pick(len(genNumbers))])
			}
		}
		if g.chance(0.3) {
			s["multipleOf"] = num(genMultiples[g.pick(len(genMultiples))])
		}
	}
	if g.chance(0.12) {
		var e []any
		for range 1 + g.pick(4) {
			e = append(e, g.value(2))
		}
		s["enum"] = e
	} else if g.chance(0.05) {
		s["const"] = g.value(2)
	}
	return s
}

// value returns a random JSON value.
func (g *gen) value(depth int) any {
	n := 7
	if depth <= 0 {
		n = 5
	}
	switch g.pick(n) {
	case 0:
		return nil
	case 1:
		return g.chance(0.5)
	case 2:
		return num(genNumbers[g.pick(len(genNumbers))])
	case 3, 4:
		return genStrings[g.pick(len(genStrings))]
	case 5:
		var a []any
		for range g.pick(4) {
			a = append(a, g.value(depth-1))
		}
		if a == nil {
			a = []any{}
		}
		return a
	default:
		o := map[string]any{}
		for range g.pick(4) {
			o[genNames[g.pick(len(genNames))]] = g.value(depth - 1)
		}
		return o
	}
}

// doc returns a document aimed at schema s: it follows the schema's shape,
// with random detours.
func (g *gen) doc(s any, depth int) any {
	m, ok := s.(map[string]any)
	if !ok || depth > 5 || g.chance(0.1) {
		return g.value(2)
	}
	if e, ok := m["enum"].([]any); ok && g.chance(0.6) {
		return e[g.pick(len(e))]
	}
	if c, ok := m["const"]; ok && g.chance(0.6) {
		return c
	}
	typ, _ := m["type"].(string)
	if ts, ok := m["type"].([]any); ok {
		typ = ts[g.pick(len(ts))].(string)
	}
	switch typ {
	case "object":
		o := map[string]any{}
		props, _ := m["properties"].(map[string]any)
		for k, sub := range props {
			if g.chance(0.8) {
				o[k] = g.doc(sub, depth+1)
			}
		}
		if req, ok := m["required"].([]any); ok {
			for _, r := range req {
				if _, have := o[r.(string)]; !have && g.chance(0.85) {
					o[r.(string)] = g.doc(props[r.(string)], depth+1)
				}
			}
		}
		if g.chance(0.2) {
			o[genNames[g.pick(len(genNames))]] = g.doc(m["additionalProperties"], depth+1)
		}
		return o
	case "array":
		var a []any
		pre, _ := m["prefixItems"].([]any)
		n := g.pick(5)
		for i := range n {
			if i < len(pre) {
				a = append(a, g.doc(pre[i], depth+1))
			} else {
				a = append(a, g.doc(m["items"], depth+1))
			}
		}
		if len(a) > 1 && g.chance(0.2) {
			a = append(a, a[0])
		}
		if a == nil {
			a = []any{}
		}
		return a
	case "string":
		return genStrings[g.pick(len(genStrings))]
	case "number", "integer":
		return num(genNumbers[g.pick(len(genNumbers))])
	case "boolean":
		return g.chance(0.5)
	case "null":
		return nil
	}
	return g.value(2)
}

// wrapRefs sometimes moves the schema into $defs and references it.
func (g *gen) wrapRefs(s any) any {
	if !g.chance(0.2) {
		return s
	}
	return map[string]any{"$defs": map[string]any{"d": s}, "$ref": "#/$defs/d"}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDifferential compares accept/reject with the peer on a generated
// corpus of schemas and well-formed documents, driving the validator with
// both the scanner and sonic's visitor.
func TestDifferential(t *testing.T) {
	const schemas, docsPer = 1500, 40
	g := &gen{r: rand.New(rand.NewPCG(1, 2))}
	var agreeValid, agreeInvalid int
	for i := range schemas {
		sv := g.wrapRefs(g.schema(0))
		sj := mustJSON(t, sv)
		s, err := compileBytes([]byte(sj), "gen.json", "jsonvalidate")
		if err != nil {
			t.Fatalf("schema %d %s: %v", i, sj, err)
		}
		p := newPeer(t, sj)
		d := newSonicDriver(s, DefaultMaxDepth)
		inner := sv
		if m, ok := sv.(map[string]any); ok && m["$ref"] != nil {
			inner = m["$defs"].(map[string]any)["d"]
		}
		for range docsPer {
			doc := mustJSON(t, g.doc(inner, 0))
			if g.chance(0.3) {
				doc = reformat(g, doc)
			}
			got := s.validate(doc, DefaultMaxDepth)
			want := p.valid(t, doc)
			if (got == "") != want {
				t.Fatalf("schema %s\ndocument %s\nwe say %q, peer says valid=%v", sj, doc, got, want)
			}
			if sg := s.validateSonic(d, doc); (sg == "") != (got == "") {
				t.Fatalf("schema %s\ndocument %s\nscanner says %q, sonic driver %q", sj, doc, got, sg)
			}
			if want {
				agreeValid++
			} else {
				agreeInvalid++
			}
		}
	}
	t.Logf("agreed on %d valid and %d invalid documents", agreeValid, agreeInvalid)
	if agreeValid < schemas || agreeInvalid < schemas {
		t.Fatalf("corpus is lopsided: %d valid, %d invalid", agreeValid, agreeInvalid)
	}
}

// reformat rewrites a compact document with whitespace and \u escapes that
// keep its meaning.
func reformat(g *gen, doc string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case inStr && c == '\\':
			n := 2
			if doc[i+1] == 'u' {
				n = 6
			}
			b.WriteString(doc[i : i+n])
			i += n - 1
			continue
		case c == '"':
			inStr = !inStr
		case inStr && c >= 'a' && c <= 'z' && g.chance(0.2):
			b.WriteString(`\u00` + strconv.FormatInt(int64(c), 16))
			continue
		case !inStr && (c == ',' || c == ':' || c == '[' || c == '{'):
			b.WriteByte(c)
			b.WriteString([]string{" ", "\n  ", "\t", "\r\n"}[g.pick(4)])
			continue
		}
		b.WriteByte(c)
	}
	return " " + b.String() + "\n"
}
