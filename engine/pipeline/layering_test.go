package pipeline_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEnginesAreThinFrontEnds pins the layering that keeps the engines
// from drifting apart again: an engine imports the pipeline, config (for
// its listener settings) and the filters' types, and nothing else of
// Tollgate, so whatever a request means can only be written here.
func TestEnginesAreThinFrontEnds(t *testing.T) {
	allowed := map[string]bool{
		"github.com/tollgate-proxy/tollgate/engine/pipeline": true,
		"github.com/tollgate-proxy/tollgate/engine/config":   true,
		"github.com/tollgate-proxy/tollgate/filters":         true,
	}
	for _, dir := range []string{"../fasthttpengine", "../gnetengine"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "github.com/tollgate-proxy/tollgate/") && !allowed[path] {
					t.Errorf("%s imports %s: engines reach the rest of Tollgate through engine/pipeline", f, path)
				}
			}
		}
	}
}
