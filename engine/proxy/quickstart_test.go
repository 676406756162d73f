package proxy_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// TestQuickstartConfig runs the shipped configs/quickstart.yaml (on free
// ports, with its audit log in a temp dir) and walks the README's tour.
func TestQuickstartConfig(t *testing.T) {
	up := e2etest.StartUpstream(t)
	raw, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/quickstart")
	cfg := strings.NewReplacer(
		"127.0.0.1:8080", "127.0.0.1:0",
		"127.0.0.1:9901", "127.0.0.1:0",
		"127.0.0.1:9000", up.Addr,
		"dir: data/audit", "dir: "+logDir,
		"signing_key_file: data/audit-dev.key", "signing_key_file: "+keyFile,
	).Replace(string(raw))
	p := startProxy(t, cfg)

	viewer := map[string]string{"X-API-Key": "demo-viewer-key"}
	editor := map[string]string{"X-API-Key": "demo-editor-key", "Content-Type": "application/json"}
	admin := map[string]string{"X-API-Key": "demo-admin-key"}

	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", viewer, ""); r.Status != 200 {
		t.Fatalf("viewer read: %d %s", r.Status, r.Body)
	}
	// make run serves the quickstart on the event loop (engine: auto).
	if m := metricsOf(t, p); !strings.Contains(m, `tollgate_listener_info{listener="public",engine="gnet",tls="false"} 1`) {
		t.Errorf("the quickstart's listener is not on the event-loop engine:\n%s", m)
	}
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), 401, "authn.key_missing")
	e2etest.AssertProblem(t, e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", viewer, ""), 403, "rbac.method_denied")
	if r := e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", admin, ""); r.Status != 204 {
		t.Fatalf("admin delete: %d %s", r.Status, r.Body)
	}
	if r := e2etest.Do(t, "POST", p.base+"/api/v1/orders", editor, `{"customer":"1","sku":"tea","qty":2}`); r.Status != 201 {
		t.Fatalf("editor order: %d %s", r.Status, r.Body)
	}
	r := e2etest.Do(t, "POST", p.base+"/api/v1/orders", editor, `{"customer":"1","sku":"tea","qty":5000}`)
	e2etest.AssertProblem(t, r, 400, "validate.body_invalid")
	if !strings.Contains(r.Body, `"/qty: must be ≤ 1000"`) {
		t.Errorf("400 does not name the failing pointer and rule as UTF-8 text: %s", r.Body)
	}
	e2etest.AssertProblem(t, e2etest.Do(t, "POST", p.base+"/api/v1/orders", editor, `{"customer":"1","sku":"tea","qty":2} trailing`), 400, "validate.json_malformed")
	e2etest.AssertProblem(t, e2etest.Do(t, "POST", p.base+"/api/v1/orders", map[string]string{"X-API-Key": "demo-editor-key", "Content-Type": "text/plain"}, `qty=2`), 415, "validate.unsupported_media_type")
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/%2e%2e/%2e%2e/admin/stats", viewer, ""), 400, "request.bad_path")

	// The per-principal limit: burst 20, then 429.
	limited := 0
	for i := 0; i < 30; i++ {
		if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", admin, ""); r.Status == 429 {
			limited++
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("30 rapid lookups by one principal were never limited")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Records != 39 {
		t.Fatalf("audit log has %d records, want 39 (every request of the tour)", res.Records)
	}
}
