package filters_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFiltersImportNoEngine keeps the seam honest: filters run under any
// engine, so no filter package may pull in an HTTP engine, the engine
// packages, or the audit log.
func TestFiltersImportNoEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbid := func(pattern string, banned ...string) {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pattern).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pattern, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s", pattern, dep)
				}
			}
		}
	}
	engines := []string{
		"github.com/valyala/fasthttp",
		"github.com/panjf2000/gnet",
		"github.com/panjf2000/gnet/v2",
		"github.com/tollgate-proxy/tollgate/engine",
		"github.com/tollgate-proxy/tollgate/auditlog",
	}
	forbid("github.com/tollgate-proxy/tollgate/filters/...", engines...)
	// The audit log stands alone, so the bundled reader stays small.
	forbid("github.com/tollgate-proxy/tollgate/auditlog/...", engines[:4]...)
	forbid("github.com/tollgate-proxy/tollgate/auditlog/...", "github.com/tollgate-proxy/tollgate/filters")
}
