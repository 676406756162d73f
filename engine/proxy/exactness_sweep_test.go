package proxy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// exactExcluded are the reason codes the exactness table cannot drive on
// its plain-HTTP listener, each with why and where it is checked instead.
var exactExcluded = map[string]string{
	// Need a TLS listener with a client CA, which the event loop does not
	// serve (it terminates no TLS), so the table cannot run them on both
	// engines; TestMutualTLSIdentityAndUpstreamCredentials.
	"authn.client_cert_missing":  "mTLS listener",
	"authn.client_cert_unmapped": "mTLS listener",
	// The refusal for a log that cannot be written is, by definition, not
	// in the log the table reads; TestAuditUnwritableFailsClosedOrOpen.
	"audit.unavailable": "not in the log",
	// Recorded for a body the upstream broke off after its head went out,
	// never answered (the table reads answers); TestCutShortIsRecorded
	// (both engines) and TestStreamedResponsesGetAnEndRecord.
	"upstream.stream_broken": "body broken off after the head",
}

// TestEveryReasonCodeHasARow holds the exactness table to the code: every
// reason code declared anywhere in the tree (filters.NewReason, in the
// filters, the pipeline and the engine) must have a row in exactRows or an
// entry in exactExcluded, so a new refusal cannot ship without a check of
// what its record says. Codes are read from the source, so a reason
// declared in a package nothing here imports is found too.
func TestEveryReasonCodeHasARow(t *testing.T) {
	codes, unresolved := declaredReasonCodes(t, "../..")
	for _, u := range unresolved {
		t.Errorf("%s: NewReason's code is not a literal, a constant or a parameter fed literals; the sweep cannot read it", u)
	}
	if len(codes) < 40 {
		t.Fatalf("found only %d reason codes; the source scan is broken", len(codes))
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kit := &jwtKit{key: key, kid: "k1"}
	rows := map[string]bool{}
	for _, r := range exactRows(&exactEnv{t: t, kit: kit, forger: kit, stranger: kit}) {
		rows[r.want.reason] = true
	}
	for _, code := range codes {
		_, excluded := exactExcluded[code]
		switch {
		case rows[code] && excluded:
			t.Errorf("%s has a row and an exclusion; drop the exclusion", code)
		case !rows[code] && !excluded:
			t.Errorf("%s has no row in exactRows and no entry in exactExcluded", code)
		}
	}
	declared := map[string]bool{}
	for _, c := range codes {
		declared[c] = true
	}
	for code := range exactExcluded {
		if !declared[code] {
			t.Errorf("exactExcluded names %s, which no code declares", code)
		}
	}
}

// declaredReasonCodes reads every non-test Go file under root and returns
// the code arguments of NewReason calls: string literals, package
// constants, or a parameter of the enclosing function, resolved through
// that function's calls in the same package.
func declaredReasonCodes(t *testing.T, root string) (codes, unresolved []string) {
	t.Helper()
	type pkg struct {
		files  []*ast.File
		consts map[string]string
	}
	fset := token.NewFileSet()
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := pkgs[dir]
		if p == nil {
			p = &pkg{consts: map[string]string{}}
			pkgs[dir] = p
		}
		p.files = append(p.files, f)
		for _, decl := range f.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								p.consts[name.Name] = s
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	add := func(code string) {
		if !seen[code] {
			seen[code] = true
			codes = append(codes, code)
		}
	}
	for _, p := range pkgs {
		for _, f := range p.files {
			for _, decl := range f.Decls {
				fn, _ := decl.(*ast.FuncDecl)
				ast.Inspect(decl, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok || calleeName(call) != "NewReason" || len(call.Args) == 0 {
						return true
					}
					arg := call.Args[0]
					if s, ok := stringLit(arg); ok {
						add(s)
						return true
					}
					id, ok := arg.(*ast.Ident)
					if !ok {
						unresolved = append(unresolved, fset.Position(arg.Pos()).String())
						return true
					}
					if s, ok := p.consts[id.Name]; ok {
						add(s)
						return true
					}
					// A parameter: every call of the enclosing function in
					// this package passes a literal there.
					idx := paramIndex(fn, id.Name)
					if idx < 0 {
						unresolved = append(unresolved, fset.Position(arg.Pos()).String())
						return true
					}
					found := false
					for _, g := range p.files {
						ast.Inspect(g, func(n ast.Node) bool {
							c, ok := n.(*ast.CallExpr)
							if !ok || calleeName(c) != fn.Name.Name || len(c.Args) <= idx {
								return true
							}
							if s, ok := stringLit(c.Args[idx]); ok {
								add(s)
								found = true
							} else {
								unresolved = append(unresolved, fset.Position(c.Args[idx].Pos()).String())
							}
							return true
						})
					}
					if !found {
						unresolved = append(unresolved, fset.Position(arg.Pos()).String())
					}
					return true
				})
			}
		}
	}
	sort.Strings(codes)
	return codes, unresolved
}

func calleeName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// paramIndex returns the position of the parameter named name in fn's
// signature, or -1.
func paramIndex(fn *ast.FuncDecl, name string) int {
	if fn == nil {
		return -1
	}
	i := 0
	for _, field := range fn.Type.Params.List {
		if len(field.Names) == 0 {
			i++
			continue
		}
		for _, n := range field.Names {
			if n.Name == name {
				return i
			}
			i++
		}
	}
	return -1
}
