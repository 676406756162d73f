package proxy_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// quickstartIssuer is the development JWT issuer of the quickstart.
const quickstartIssuer = "https://tollgate.quickstart"

// devJWT signs development tokens with an Ed25519 key published in a
// temp JWK Set, standing in for the key make run creates.
type devJWT struct {
	key  ed25519.PrivateKey
	jwks string
}

func newDevJWT(t *testing.T) *devJWT {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(t.TempDir(), "jwt-dev.jwks.json")
	doc := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"jwt-dev","alg":"EdDSA","use":"sig","x":%q}]}`, base64.RawURLEncoding.EncodeToString(pub))
	if err := os.WriteFile(jwks, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return &devJWT{key: key, jwks: jwks}
}

// token returns a bearer header for sub with roles, for the quickstart's
// issuer and audience.
func (d *devJWT) token(sub, roles string) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	claims := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":"quickstart","iat":%d,"exp":%d,"roles":[%s]}`, quickstartIssuer, sub, now, now+300, roles)
	input := enc([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"jwt-dev"}`)) + "." + enc([]byte(claims))
	return map[string]string{"Authorization": "Bearer " + input + "." + enc(ed25519.Sign(d.key, []byte(input)))}
}

// startQuickstart runs the shipped configs/quickstart.yaml on free ports,
// in front of a demo upstream, with its audit log in a temp dir and a
// fresh development JWT key.
func startQuickstart(t *testing.T) (p *testProxy, logDir, vkey string, jwt *devJWT) {
	t.Helper()
	jwt = newDevJWT(t)
	p, logDir, vkey = startQuickstartJWKS(t, jwt.jwks)
	return p, logDir, vkey, jwt
}

// startQuickstartJWKS is startQuickstart with the development issuer's
// JWK Set read from jwks.
func startQuickstartJWKS(t *testing.T, jwks string) (p *testProxy, logDir, vkey string) {
	t.Helper()
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
		"jwks_file: data/jwt-dev.jwks.json", "jwks_file: "+jwks,
	).Replace(string(raw))
	if !strings.Contains(cfg, "jwks_file: "+jwks) {
		t.Fatal("configs/quickstart.yaml no longer reads the development JWK Set from data/jwt-dev.jwks.json")
	}
	return startProxy(t, cfg), logDir, vkey
}

// TestQuickstartConfig runs the shipped configs/quickstart.yaml (on free
// ports, with its audit log in a temp dir) and walks the README's tour.
func TestQuickstartConfig(t *testing.T) {
	p, logDir, vkey, jwt := startQuickstart(t)

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
	// Neither a token nor a key: the policy refuses the anonymous request.
	e2etest.AssertProblem(t, e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, ""), 401, "authn.required")
	e2etest.AssertProblem(t, e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", viewer, ""), 403, "rbac.method_denied")
	// A development JWT works as well as a key; a bad one is refused even
	// with a good key beside it.
	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", jwt.token("vera", `"viewer"`), ""); r.Status != 200 {
		t.Fatalf("viewer token read: %d %s", r.Status, r.Body)
	}
	e2etest.AssertProblem(t, e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", jwt.token("vera", `"viewer"`), ""), 403, "rbac.method_denied")
	forged := jwt.token("ada", `"admin"`)
	forged["Authorization"] = forged["Authorization"][:len(forged["Authorization"])-4] + "AAAA"
	forged["X-API-Key"] = "demo-admin-key"
	e2etest.AssertProblem(t, e2etest.Do(t, "DELETE", p.base+"/api/v1/customers/2", forged, ""), 401, "authn.bad_signature")
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
	if res.Records != 42 {
		t.Fatalf("audit log has %d records, want 42 (every request of the tour)", res.Records)
	}
}

// readmeRateLimitExample returns the README tour's rate-limit example as
// printed: the one shell command of README.md's sh blocks that says 429,
// with the lines it continues onto or from (a trailing backslash).
func readmeRateLimitExample(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	at, inSh := -1, false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = !inSh && strings.TrimPrefix(l, "```") == "sh"
		case inSh && strings.Contains(l, "429"):
			if at >= 0 {
				t.Fatalf("README.md lines %d and %d both say 429; want one rate-limit example in the tour", at+1, i+1)
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatal("README.md's sh blocks have no rate-limit example (a command that says 429); the tour must show 25 rapid requests ending in 429")
	}
	first, last := at, at
	for first > 0 && strings.HasSuffix(lines[first-1], "\\") {
		first--
	}
	for last < len(lines)-1 && strings.HasSuffix(lines[last], "\\") {
		last++
	}
	cmd := strings.Join(lines[first:last+1], "\n")
	// Separate curl processes (a shell loop) are slow enough on a loaded
	// machine for the 10/s refill to admit all 25: one curl must send them
	// all, back to back on one connection, with a URL glob.
	code, _, _ := strings.Cut(cmd, "#")
	if !strings.HasPrefix(code, "curl ") || strings.Count(code, "curl ") != 1 || !strings.Contains(code, "[1-25]") ||
		strings.Contains(code, "for ") || strings.Contains(code, "while ") || strings.Contains(code, "seq ") || strings.Contains(code, "xargs") {
		t.Fatalf("README.md line %d: the rate-limit example must be one curl sending 25 requests with a URL glob [1-25], not a loop:\n%s", at+1, cmd)
	}
	if !strings.Contains(code, "127.0.0.1:8080") {
		t.Fatalf("README.md line %d: the rate-limit example does not call the proxy at 127.0.0.1:8080:\n%s", at+1, cmd)
	}
	return cmd
}

// TestQuickstartReadmeRateLimit runs the README tour's rate-limit example
// exactly as printed, with bash and curl, against the quickstart config:
// 20 × 200 (the burst), then 429s.
//
// The numbers: the policy is 10/s with a burst of 20, so an idle principal
// gets its first 20 requests whatever their timing, and GCRA admits at most
// 20 + ⌊elapsed / 100 ms⌋ over any stretch. One curl sends the 25 requests
// back to back on one keep-alive connection: the whole bash -c run, process
// start-up included, takes about 60 ms on an idle 2-core machine and 150 to
// 300 ms with six busy loops on it, most of it start-up. At least 3 of the
// last 5 are refused whenever the run takes under 300 ms; all 25 may pass
// if it takes 500 ms. A run slower than 300 ms with fewer than 3 refusals
// says the machine stalled, not that the example is wrong: it is retried on
// a full bucket, twice at most, and fails after that.
func TestQuickstartReadmeRateLimit(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not on PATH: CI must run the README's rate-limit example (.ci/run installs curl)", tool)
			}
			t.Skipf("%s is not on PATH, so the README's rate-limit example cannot run as printed", tool)
		}
	}
	example := readmeRateLimitExample(t)
	p, _, _, _ := startQuickstart(t)
	cmd := strings.ReplaceAll(example, "127.0.0.1:8080", p.addr)

	const (
		burst    = 20
		interval = 100 * time.Millisecond  // 10/s
		refill   = 2100 * time.Millisecond // w=2: the bucket is whole again
		want429  = 3
		attempts = 3
	)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		out, err := exec.CommandContext(ctx, "bash", "-c", cmd).Output()
		wall := time.Since(start)
		cancel()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("bash -c %q: %v\n%s", cmd, err, ee.Stderr)
			}
			t.Fatalf("bash -c %q: %v", cmd, err)
		}
		codes := strings.Fields(string(out))
		if len(codes) != 25 {
			t.Fatalf("the example printed %d codes, want 25: %q", len(codes), out)
		}
		ok, limited := 0, 0
		for i, c := range codes {
			switch {
			case c == "200":
				ok++
			case c == "429" && i >= burst:
				limited++
			case c == "429":
				t.Fatalf("request %d of an idle principal got 429, want 200 for the whole burst of %d: %s", i+1, burst, out)
			default:
				t.Fatalf("request %d got %s, want 200 or 429: %s", i+1, c, out)
			}
		}
		// GCRA never admits more than burst + elapsed/T.
		if bound := burst + int(wall/interval); ok > bound {
			t.Fatalf("%d admitted in %v, more than burst + elapsed/T = %d: %s", ok, wall, bound, out)
		}
		t.Logf("attempt %d: %s in %v", attempt, strings.TrimSpace(string(out)), wall.Round(time.Millisecond))
		if limited >= want429 {
			return
		}
		if wall < want429*interval || attempt == attempts {
			t.Fatalf("the README's rate-limit example printed %s in %v: want 20 × 200 then at least %d × 429", strings.TrimSpace(string(out)), wall, want429)
		}
		time.Sleep(refill)
	}
}

// readmeTokenExample returns the README tour's development-token lines as
// printed: in README.md's sh blocks, the one line that assigns
// TOKEN=$(bin/tollgate token …) and the commands after it that use $TOKEN,
// each with the status its comment promises.
func readmeTokenExample(t *testing.T) (lines []string, want []int) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	status := regexp.MustCompile(`#\s*(\d{3})\b`)
	inSh, found := false, false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = !inSh && strings.TrimPrefix(l, "```") == "sh"
		case !inSh:
		case strings.HasPrefix(l, "TOKEN=$(bin/tollgate token "):
			if found {
				t.Fatal("README.md's sh blocks assign TOKEN=$(bin/tollgate token …) twice; want one development-token example")
			}
			found = true
			lines = append(lines, l)
		case found && len(want) < len(lines) && strings.Contains(l, "$TOKEN"):
			m := status.FindStringSubmatch(l)
			if m == nil || !strings.HasPrefix(l, "curl ") {
				t.Fatalf("README.md: %q uses $TOKEN but is not a curl whose comment names the status", l)
			}
			var code int
			fmt.Sscan(m[1], &code)
			lines, want = append(lines, l), append(want, code)
		}
	}
	if !found || len(want) == 0 {
		t.Fatal("README.md's sh blocks have no development-token example: TOKEN=$(bin/tollgate token …) then curl lines with $TOKEN")
	}
	return lines, want
}

// buildTollgate builds the tollgate command into a temp dir.
func buildTollgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tollgate")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/tollgate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestQuickstartReadmeToken runs the README tour's development-token lines
// exactly as printed, with bash and curl, against the quickstart config:
// the key made as make run makes it, bin/tollgate replaced by the built
// command and the address by the test proxy's. Each curl must answer the
// status its comment names (200 for a viewer's read, 403 for its DELETE).
func TestQuickstartReadmeToken(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not on PATH: CI must run the README's token example (.ci/run installs curl)", tool)
			}
			t.Skipf("%s is not on PATH, so the README's token example cannot run as printed", tool)
		}
	}
	lines, want := readmeTokenExample(t)
	bin := buildTollgate(t)
	prefix := filepath.Join(t.TempDir(), "jwt-dev")
	// As scripts/run-quickstart.sh does.
	if out, err := exec.Command(bin, "keygen", "--alg", "ES256", "--kid", "jwt-dev", "--out", prefix).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	p, _, _ := startQuickstartJWKS(t, prefix+".jwks.json")
	script := strings.NewReplacer(
		"bin/tollgate token ", bin+" token --key "+prefix+".key ",
		"127.0.0.1:8080", p.addr,
	).Replace("set -e\n" + strings.Join(lines, "\n") + "\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-c", script).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("bash -c %q: %v\n%s", script, err, ee.Stderr)
		}
		t.Fatalf("bash -c %q: %v", script, err)
	}
	// curl -i prints each status line, right after the previous body
	// (which need not end in a newline).
	var got []int
	for _, m := range regexp.MustCompile(`HTTP/[0-9.]+ (\d{3}) `).FindAllStringSubmatch(string(out), -1) {
		var code int
		fmt.Sscan(m[1], &code)
		got = append(got, code)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the README's token example answered %v, want %v:\n%s\n%s", got, want, strings.Join(lines, "\n"), out)
	}
}
