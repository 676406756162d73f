package config

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const (
	schemaPath = "../../configs/tollgate.schema.json"
	schemaURL  = "https://github.com/tollgate-proxy/tollgate/configs/tollgate.schema.json"
)

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("cannot parse schema: %v", err)
	}
	return s
}

// schemaDef returns the schema object that describes Go struct type name.
func schemaDef(s map[string]any, name string) map[string]any {
	if name == "Config" {
		return s
	}
	defs, _ := s["$defs"].(map[string]any)
	d, _ := defs[name].(map[string]any)
	return d
}

func docText(cg *ast.CommentGroup) string {
	return strings.Join(strings.Fields(cg.Text()), " ")
}

// TestSchemaMatchesTypes keeps configs/tollgate.schema.json and types.go in
// step: the same types, the same keys, and descriptions equal to the doc
// comments.
func TestSchemaMatchesTypes(t *testing.T) {
	s := readSchema(t)
	types := map[string]bool{}
	// The insight package's config is part of the file too; its types are
	// described under an "Insight" prefix.
	for _, src := range []struct{ file, prefix string }{{"types.go", ""}, {"../insight/config.go", "Insight"}} {
		checkSchemaTypes(t, s, src.file, src.prefix, types)
	}
	defs, _ := s["$defs"].(map[string]any)
	for name := range defs {
		if !types[name] {
			t.Errorf("schema definition %s has no struct in types.go", name)
		}
	}
	if len(types) < 8 {
		t.Fatalf("found only %d struct types in types.go", len(types))
	}
}

func checkSchemaTypes(t *testing.T, s map[string]any, path, prefix string, types map[string]bool) {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	defName := func(n string) string {
		if prefix != "" && n == "Config" {
			return prefix
		}
		return prefix + n
	}
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			name := defName(ts.Name.Name)
			types[name] = true
			def := schemaDef(s, name)
			if def == nil {
				t.Errorf("schema has no definition for %s", name)
				continue
			}
			if got, want := def["description"], docText(gd.Doc); got != want {
				t.Errorf("%s: schema description %q, doc comment %q", name, got, want)
			}
			props, _ := def["properties"].(map[string]any)
			keys := map[string]bool{}
			for _, f := range st.Fields.List {
				if f.Tag == nil || len(f.Names) != 1 || !f.Names[0].IsExported() {
					continue
				}
				key, _, _ := strings.Cut(reflect.StructTag(strings.Trim(f.Tag.Value, "`")).Get("yaml"), ",")
				if key == "-" {
					continue
				}
				keys[key] = true
				p, _ := props[key].(map[string]any)
				if p == nil {
					t.Errorf("%s.%s: key %q is missing from the schema", name, f.Names[0].Name, key)
					continue
				}
				if got, want := p["description"], docText(f.Doc); got != want {
					t.Errorf("%s.%s: schema description\n\t%q\ndoc comment\n\t%q", name, f.Names[0].Name, got, want)
				}
				if ref := structRef(f.Type); ref != "" {
					ref = defName(ref)
					got, _ := p["$ref"].(string)
					if items, ok := p["items"].(map[string]any); ok {
						got, _ = items["$ref"].(string)
					}
					if got != "#/$defs/"+ref {
						t.Errorf("%s.%s: schema $ref %q, want %q", name, f.Names[0].Name, got, "#/$defs/"+ref)
					}
				}
			}
			for key := range props {
				if !keys[key] {
					t.Errorf("%s: schema key %q has no field", name, key)
				}
			}
		}
	}
}

// structRef returns the struct type named by a field type (T, *T or []T)
// when it is declared in this package, or "".
func structRef(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return structRef(x.X)
	case *ast.ArrayType:
		return structRef(x.Elt)
	case *ast.Ident:
		if x.Obj != nil {
			if ts, ok := x.Obj.Decl.(*ast.TypeSpec); ok {
				if _, ok := ts.Type.(*ast.StructType); ok {
					return x.Name
				}
			}
		}
	}
	return ""
}

// TestSchemaClosed checks that every object in the schema refuses unknown
// keys, as Load does; only a filter's config block is open.
func TestSchemaClosed(t *testing.T) {
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["properties"]; ok || x["type"] == "object" {
				n++
				// A map-typed setting (set_headers) has no properties and
				// constrains its values with a schema instead.
				_, isMap := x["additionalProperties"].(map[string]any)
				if x["additionalProperties"] != false && (!isMap || x["properties"] != nil) {
					t.Errorf("%s: additionalProperties is not false", path)
				}
			}
			for k, e := range x {
				walk(path+"/"+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"/[]", e)
			}
		}
	}
	walk("#", readSchema(t))
	if n < 8 {
		t.Fatalf("found only %d objects", n)
	}
}

// TestSchemaDefaults checks that every "default" in the schema is what
// SetDefaults applies, and that every default SetDefaults applies is in the
// schema.
func TestSchemaDefaults(t *testing.T) {
	s := readSchema(t)
	cfg := &Config{Listeners: []Listener{{TLS: &TLS{}}}, Upstreams: []Upstream{{}}, Routes: []Route{{Filters: []FilterSpec{{}}}}}
	cfg.SetDefaults()
	values := map[string]reflect.Value{
		"Config":     reflect.ValueOf(cfg).Elem(),
		"Log":        reflect.ValueOf(&cfg.Log).Elem(),
		"Admin":      reflect.ValueOf(&cfg.Admin).Elem(),
		"Metrics":    reflect.ValueOf(&cfg.Metrics).Elem(),
		"Listener":   reflect.ValueOf(&cfg.Listeners[0]).Elem(),
		"TLS":        reflect.ValueOf(cfg.Listeners[0].TLS).Elem(),
		"Upstream":   reflect.ValueOf(&cfg.Upstreams[0]).Elem(),
		"Route":      reflect.ValueOf(&cfg.Routes[0]).Elem(),
		"FilterSpec": reflect.ValueOf(&cfg.Routes[0].Filters[0]).Elem(),
	}
	n := 0
	for name, v := range values {
		props, _ := schemaDef(s, name)["properties"].(map[string]any)
		for _, f := range structFields(v.Type(), nil, nil) {
			fv := v.FieldByIndex(f.index)
			p, _ := props[f.key].(map[string]any)
			def, hasDef := p["default"]
			if !hasDef {
				if !fv.IsZero() && fv.Kind() != reflect.Slice && fv.Kind() != reflect.Pointer && fv.Kind() != reflect.Struct {
					t.Errorf("%s.%s: SetDefaults sets %v but the schema has no default", name, f.key, fv)
				}
				continue
			}
			n++
			var node yaml.Node
			data, _ := yaml.Marshal(def)
			if err := yaml.Unmarshal(data, &node); err != nil {
				t.Fatal(err)
			}
			want := reflect.New(fv.Type())
			d := newDecoder(nil)
			d.decode(&node, f.key, want.Elem())
			if len(d.errs) > 0 {
				t.Errorf("%s.%s: schema default %v: %v", name, f.key, def, d.errs)
				continue
			}
			if !reflect.DeepEqual(fv.Interface(), want.Elem().Interface()) {
				t.Errorf("%s.%s: SetDefaults gives %v, schema default is %v", name, f.key, fv, def)
			}
		}
	}
	if n != 19 {
		t.Fatalf("checked %d defaults, want 19", n)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("cannot compile schema: %v", err)
	}
	return sch
}

// validateSchema checks YAML text (after environment substitution) against
// the schema.
func validateSchema(t *testing.T, sch *jsonschema.Schema, text []byte) error {
	t.Helper()
	text, _, errs := substituteEnv("c.yaml", text, env())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var v any
	if err := yaml.Unmarshal(text, &v); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// TestExamples loads every example config and checks it against the schema.
func TestExamples(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"../../configs/quickstart.yaml", "../../configs/full.yaml"} {
		if !slices.Contains(files, want) {
			t.Fatalf("%s is missing", want)
		}
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(file, data, env()); err != nil {
				t.Fatalf("cannot load:\n%v", err)
			}
			if err := validateSchema(t, sch, data); err != nil {
				t.Fatalf("does not match the schema: %v", err)
			}
		})
	}

	// The schema is not vacuous: it refuses what Load refuses.
	f := func(text string) {
		t.Helper()
		if err := validateSchema(t, sch, []byte(text)); err == nil {
			t.Errorf("schema accepts\n%s", text)
		}
		if _, err := Parse("c.yaml", []byte(text), env()); err == nil {
			t.Errorf("Load accepts\n%s", text)
		}
	}
	f(base + "lisetners: []\n")
	f(base + "routes: [{name: r, path: /, upstream: u, timeot: 1s}]\n")
	f(base + "routes: [{name: r, path: x, upstream: u}]\n")
	f(base + "log: {level: loud}\n")
	f(`listeners: [{name: l, listen: ":0", read_timeout: 5x}]`)
	f(`listeners: [{name: l, listen: ":0", max_body_bytes: 10 MiBs}]`)
	f(`listeners: [{name: l, listen: ":0", tls: {cert: c}}]`)
	f(`listeners: [{name: l, listen: ":0", max_connections: -1}]`)
	f(base + "audit: {dir: d, signing_key_file: k, ship: {postgres: {max_lag: 1}}}\n")
	f(base + "audit: {dir: d, signing_key_file: k, ship: {postgres: {url: 'mysql://db/x'}}}\n")
	f(base + "routes: [{name: r, path: /, upstream: u, filters: [{config: {}}]}]\n")
}

func TestQuickstart(t *testing.T) {
	cfg, err := Load("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 1 {
		t.Fatalf("%d listeners", len(cfg.Listeners))
	}
	l := cfg.Listeners[0]
	if l.Name != "public" || l.Listen != "127.0.0.1:8080" || l.TLS != nil || len(l.TrustedProxies) != 0 {
		t.Errorf("listener %+v", l)
	}
	if cfg.Admin.Listen != "127.0.0.1:9901" {
		t.Errorf("admin %q", cfg.Admin.Listen)
	}
	if len(cfg.Upstreams) != 1 || cfg.Upstreams[0].Name != "demo" || !slices.Equal(cfg.Upstreams[0].Targets, []string{"127.0.0.1:9000"}) {
		t.Errorf("upstreams %+v", cfg.Upstreams)
	}
	var got []string
	for _, r := range cfg.Routes {
		if r.Upstream != "demo" {
			t.Errorf("route %s goes to %q", r.Name, r.Upstream)
		}
		got = append(got, r.Name+" "+strings.Join(r.Methods, ",")+" "+r.Path)
	}
	want := []string{
		"get-customer GET /api/v1/customers/{id}",
		"list-customers GET /api/v1/customers",
		"delete-customer DELETE /api/v1/customers/{id}",
		"create-order POST /api/v1/orders",
		"admin-stats GET /admin/stats",
		"events GET /api/v1/events",
		"download GET /api/v1/download/{size}",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("routes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every route is protected: a JWT or an API key, then the RBAC policy.
	for _, r := range cfg.Routes {
		if len(r.Filters) < 3 || r.Filters[0].Use != "jwt" || r.Filters[1].Use != "api-keys" || r.Filters[2].Use != "policy" {
			t.Errorf("route %s is not protected by jwt, api-keys and policy: %+v", r.Name, r.Filters)
		}
	}
	if cfg.Audit == nil || cfg.Audit.Dir != "data/audit" {
		t.Errorf("audit %+v, want the log under data/audit", cfg.Audit)
	}
	fs := cfg.Routes[3].Filters[3]
	var v struct {
		MaxBytes ByteSize `yaml:"max_bytes"`
	}
	if err := fs.Decode(&v); err != nil || fs.Name != "sizelimit" || v.MaxBytes != 64<<10 {
		t.Fatalf("create-order filter %s: %+v %v", fs.Name, v, err)
	}
}
