package explain

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/engine/proxy"
	"github.com/tollgate-proxy/tollgate/internal/keytest"
)

// recorder is an upstream on loopback that records what reaches it.
type recorder struct {
	mu    sync.Mutex
	paths []string
	addr  string
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.EscapedPath())
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.paths
	r.paths = nil
	return out
}

var reasonField = regexp.MustCompile(`"reason":"([^"]+)"`)

// agreeRequest is one request sent both to explain and to the proxy.
type agreeRequest struct {
	method, target, token, key, body string
}

// TestExplainAgreesWithTheProxy sends the same requests to explain and to
// the quickstart config served by each engine, and holds them to the same
// answer: where explain says a request is forwarded, the upstream received
// exactly it, at the normalized path explain names; where explain says it
// is refused, the client got that status and reason and the upstream got
// nothing.
func TestExplainAgreesWithTheProxy(t *testing.T) {
	dir := t.TempDir()
	jwt := keytest.NewJWT(t, dir)
	token := func(sub string, roles ...string) string {
		return jwt.Token(t, map[string]any{"iss": "https://tollgate.quickstart", "aud": "quickstart", "sub": sub, "roles": roles})
	}
	order := `{"customer":"1","sku":"tea","qty":2}`
	agree(t, "../../configs/quickstart.yaml", jwt, []agreeRequest{
		{method: "GET", target: "/api/v1/customers/1", key: "demo-viewer-key"},
		{method: "GET", target: "/api/v1/./customers/%31", token: token("vera", "viewer")},
		{method: "DELETE", target: "/api/v1/customers/2", key: "demo-viewer-key"},
		{method: "DELETE", target: "/api/v1/customers/2", token: token("ada", "admin")},
		{method: "POST", target: "/api/v1/orders", key: "demo-editor-key", body: order},
		{method: "POST", target: "/api/v1/orders", token: token("vera", "viewer"), body: order},
		{method: "GET", target: "/admin/stats", key: "demo-editor-key"},
		{method: "GET", target: "/admin/stats", key: "demo-admin-key"},
		{method: "GET", target: "/api/v1/customers/1"},
		{method: "GET", target: "/api/v1/customers/1", key: "wrong-key"},
		{method: "GET", target: "/api/v1/customers/1", token: "not.a.token"},
		{method: "GET", target: "/api/v1/customers/%2e%2e/%2e%2e/admin/stats", key: "demo-admin-key"},
		{method: "GET", target: "/nope", key: "demo-viewer-key"},
		{method: "PUT", target: "/api/v1/customers/1", key: "demo-admin-key"},
		// A token and a key: the same principal passes, two principals
		// are refused 400, whichever of them would have been allowed.
		{method: "GET", target: "/api/v1/customers/1", token: token("vera", "viewer"), key: "demo-viewer-key"},
		{method: "GET", target: "/api/v1/customers/1", token: token("ada", "admin"), key: "demo-viewer-key"},
		{method: "GET", target: "/admin/stats", token: token("ada", "admin"), key: "demo-editor-key"},
	})
}

// TestExplainAgreesOnScopes is TestExplainAgreesWithTheProxy over a
// permission that requires a scope: tokens carrying it (in scope or scp),
// lacking it or carrying a look-alike, an API key (which carries no
// scopes), and a key beside a token for another principal.
func TestExplainAgreesOnScopes(t *testing.T) {
	dir := t.TempDir()
	jwt := keytest.NewJWT(t, dir)
	token := func(sub string, extra ...any) string {
		c := map[string]any{"iss": "https://tollgate.quickstart", "aud": "quickstart", "sub": sub, "roles": []string{"editor"}}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return jwt.Token(t, c)
	}
	agree(t, "testdata/tokens.yaml", jwt, []agreeRequest{
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scope", "orders:read orders:write")},
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scp", []string{"orders:write"})},
		{method: "POST", target: "/api/v1/orders", token: token("eddie")},
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scope", "orders:writer")},
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scope", "ORDERS:WRITE")},
		{method: "GET", target: "/api/v1/orders", token: token("eddie")},
		{method: "POST", target: "/api/v1/orders", key: "demo-editor-key"},
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scope", "orders:write"), key: "demo-editor-key"},
		{method: "POST", target: "/api/v1/orders", token: token("eddie", "scope", "orders:write"), key: "demo-viewer-key"},
		{method: "GET", target: "/api/v1/orders", token: token("vera"), key: "demo-editor-key"},
	})
}

// serve starts a proxy on the config at path until the test ends, and
// returns the address of its first listener.
func serve(t *testing.T, path string) string {
	t.Helper()
	p, err := proxy.Start(proxy.Options{ConfigPath: path, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p.Addrs()[0].String()
}

// agree serves the config at cfgPath (its listener, admin, upstream,
// audit and JWK Set paths rewritten for the test) on each engine and
// holds explain to what the proxy does with each request.
func agree(t *testing.T, cfgPath string, jwt *keytest.JWT, requests []agreeRequest) {
	t.Helper()
	up := startRecorder(t)
	audit := keytest.AuditKey(t, t.TempDir())
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			cfg := strings.NewReplacer(
				"listen: 127.0.0.1:8080", "listen: 127.0.0.1:0\n    engine: "+engine,
				"127.0.0.1:9901", "127.0.0.1:0",
				"127.0.0.1:9000", up.addr,
				"dir: data/audit", "dir: "+filepath.Join(t.TempDir(), "audit"),
				"data/audit-dev.key", audit,
				"data/jwt-dev.jwks.json", jwt.JWKSFile,
			).Replace(string(raw))
			path := filepath.Join(t.TempDir(), "quickstart.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := serve(t, path)
			for _, rq := range requests {
				name := rq.method + " " + rq.target
				res, err := Run(Options{Path: path, Method: rq.method, Target: rq.target, Token: rq.token, APIKey: rq.key})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%s (token %v, key %q): explain says %d %s", name, rq.token != "", rq.key, res.Status, res.Reason)
				var b strings.Builder
				fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", rq.method, rq.target)
				if rq.token != "" {
					fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", rq.token)
				}
				if rq.key != "" {
					fmt.Fprintf(&b, "X-API-Key: %s\r\n", rq.key)
				}
				if rq.body != "" {
					fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(rq.body))
				}
				b.WriteString("\r\n" + rq.body)
				status, text := e2etest.RawRequest(t, addr, b.String())
				got := up.take()
				if res.Reason == "" {
					want := rq.method + " " + res.Path
					if status != 200 || len(got) != 1 || got[0] != want {
						t.Errorf("%s: explain says forwarded as %s; the client got %d, the upstream %q\n%s", name, want, status, got, text)
					}
					continue
				}
				m := reasonField.FindStringSubmatch(text)
				if status != res.Status || m == nil || m[1] != res.Reason || len(got) != 0 {
					t.Errorf("%s: explain says %d %s; the client got %d %v, the upstream %q\n%s", name, res.Status, res.Reason, status, m, got, text)
				}
			}
		})
	}
}
