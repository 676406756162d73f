package proxy_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// tenantKey is the API key of the tenant-bound principal tina.
const tenantKey = "exactness-tenant-key"

// exactEnv is what the exactness table runs against: a live and a dead
// upstream, one that answers garbage, an introspection endpoint, token
// signers, and the proxy's address once it is up.
type exactEnv struct {
	t                     *testing.T
	engine                string
	up                    *e2etest.Upstream
	dead, garbage         string
	introspect            string
	keyFile, logDir, jwks string
	kit, forger, stranger *jwtKit
	addr                  string
	p                     *testProxy
}

func newExactEnv(t *testing.T, engine string) *exactEnv {
	dir := t.TempDir()
	env := &exactEnv{t: t, engine: engine, up: e2etest.StartUpstream(t), dead: e2etest.DeadAddr(t), garbage: garbageUpstream(t)}
	env.keyFile, env.logDir, _ = auditSetup(t, dir, "tollgate.test/exactness")
	env.kit, env.jwks = newJWTKit(t, dir)
	// The forger signs as the trusted kid with a key of its own; the
	// stranger names a kid the issuer never published.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	env.forger = &jwtKit{key: other, kid: env.kit.kid}
	env.stranger = &jwtKit{key: other, kid: "k9"}
	env.introspect = introspectionServer(t)
	return env
}

func (env *exactEnv) config() string {
	sum := sha256.Sum256([]byte(tenantKey))
	return strings.NewReplacer(
		"{engine}", env.engine, "{live}", env.up.Addr, "{dead}", env.dead, "{garbage}", env.garbage,
		"{logdir}", env.logDir, "{keyfile}", env.keyFile, "{jwks}", env.jwks,
		"{tenantsha}", hex.EncodeToString(sum[:]), "{introspect}", env.introspect,
	).Replace(exactnessConfig)
}

// tokenClaims are a token's claims for issuer and audience, expiring at
// exp from now and valid from nbf from now.
func tokenClaims(iss, aud string, exp, nbf time.Duration) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iss, "aud": aud, "sub": "jo", "roles": []string{"viewer"}, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(exp).Unix()}
	if nbf != 0 {
		c["nbf"] = now.Add(nbf).Unix()
	}
	return c
}

// unsignedToken is a token with the given header, valid claims and a
// signature nothing made: for refusals decided before the signature.
func unsignedToken(header map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(tokenClaims("https://idp.test", "orders-api", time.Hour, 0))
	return b64(h) + "." + b64(c) + "." + b64([]byte("not a signature"))
}

// introspectionServer is an RFC 7662 endpoint on a loopback port: the
// token "live-token" is active for ivan, every other token is not.
func introspectionServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "tollgate" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("token") != "live-token" {
			_, _ = io.WriteString(w, `{"active":false}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "ivan", "scope": "viewer", "exp": time.Now().Add(time.Hour).Unix()})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/introspect"
}

// garbageUpstream answers every request with bytes that are not HTTP.
func garbageUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				_, _ = io.WriteString(c, "SMTP READY, NOT HTTP\r\n\r\n")
			}()
		}
	}()
	return ln.Addr().String()
}

// dialAnswer writes raw on a new connection, waits for the answer and
// returns its status and request id.
func dialAnswer(t *testing.T, addr, raw string) (status int, id string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("answer to %.60q: %v", raw, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

func mustStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// driveSlowloris sends a request line and one field, then nothing: the
// head does not arrive within header_timeout.
func driveSlowloris(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n")
	mustStatus(t, "slowloris", status, 408)
	return id, from, time.Now()
}

// driveSlowBody sends an allowed head and 9 KiB of a 12 KiB body, then
// nothing: the rest does not arrive within read_timeout.
func driveSlowBody(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "POST /echo/upload HTTP/1.1\r\nHost: x\r\n"+editor+"Content-Length: 12288\r\n\r\n"+strings.Repeat("x", 9<<10))
	mustStatus(t, "slow body", status, 408)
	return id, from, time.Now()
}

// driveSlowSmallBody is driveSlowBody with a body of 20 bytes, 6 sent.
func driveSlowSmallBody(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n"+asJSON+editor+"Content-Length: 20\r\n\r\n{\"qty\"")
	mustStatus(t, "slow small body", status, 408)
	return id, from, time.Now()
}

// driveAbort asks for a slow answer and hangs up before it comes; the
// request names itself (the listener trusts X-Request-Id), since the
// client never sees an answer.
func driveAbort(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	const id = "exactness-abort-1"
	from := time.Now()
	before := env.up.PathRequests("/slow")
	c, err := net.DialTimeout("tcp", env.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /slow?delay=300ms HTTP/1.1\r\nHost: x\r\nX-Request-Id: "+id+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	atUpstream(t, env, before, 1)
	c.Close()
	// The upstream answers 300ms after it got the request; the proxy then
	// finds the client gone.
	time.Sleep(700 * time.Millisecond)
	return id, from, time.Now()
}

// hold sends a request to /slow on host that the upstream answers after
// d, and returns a wait for its status.
func hold(t *testing.T, env *exactEnv, host string, d time.Duration) func() int {
	done := make(chan int, 1)
	go func() {
		status := 0
		defer func() { done <- status }()
		c, err := net.DialTimeout("tcp", env.addr, 2*time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /slow?delay="+d.String()+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
			return
		}
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
	}()
	return func() int { return <-done }
}

// atUpstream waits until the upstream has received n more /slow requests
// than before: they hold their slots.
func atUpstream(t *testing.T, env *exactEnv, before uint64, n int) {
	t.Helper()
	waitFor(t, "requests at the upstream", 3*time.Second, func() bool { return env.up.PathRequests("/slow") >= before+uint64(n) })
}

const holdFor = 800 * time.Millisecond // within the demo upstream's 1s timeout

// driveQueueFull: one request holds the slot, one waits in the queue, a
// third finds the queue full.
func driveQueueFull(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	before := env.up.PathRequests("/slow")
	first := hold(t, env, "cc", holdFor)
	atUpstream(t, env, before, 1)
	second := hold(t, env, "cc", time.Millisecond)
	waitFor(t, "a queued request", 3*time.Second, func() bool {
		return strings.Contains(metricsOf(t, env.p), `tollgate_concurrency_queue_depth{route="queued"} 1`+"\n")
	})
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "GET /slow?delay=1ms HTTP/1.1\r\nHost: cc\r\n\r\n")
	to := time.Now()
	mustStatus(t, "queue full", status, 503)
	if got := first(); got != 200 {
		t.Fatalf("the request holding the slot got %d", got)
	}
	second()
	return id, from, to
}

// driveQueueTimeout: one request holds the slot longer than the queue
// waits.
func driveQueueTimeout(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	before := env.up.PathRequests("/slow")
	first := hold(t, env, "cc", holdFor)
	atUpstream(t, env, before, 1)
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "GET /slow?delay=1ms HTTP/1.1\r\nHost: cc\r\n\r\n")
	to := time.Now()
	mustStatus(t, "queue timeout", status, 503)
	if got := first(); got != 200 {
		t.Fatalf("the request holding the slot got %d", got)
	}
	return id, from, to
}

// driveShed holds max_in_flight (3) requests in flight, then sends one
// more.
func driveShed(t *testing.T, env *exactEnv) (string, time.Time, time.Time) {
	before := env.up.PathRequests("/slow")
	var waits []func() int
	for range 3 {
		waits = append(waits, hold(t, env, "x", holdFor))
	}
	atUpstream(t, env, before, 3)
	from := time.Now()
	status, id := dialAnswer(t, env.addr, "GET /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\n"+viewer+"\r\n")
	to := time.Now()
	mustStatus(t, "shed", status, 503)
	for _, w := range waits {
		if got := w(); got != 200 {
			t.Fatalf("a request in flight got %d", got)
		}
	}
	return id, from, to
}
