package proxy_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// waitFor polls cond every 20ms until it holds, and fails the test when it
// does not within d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricValue reads the integer value of an unlabelled series from a
// /metrics page, or 0 when the page lacks it.
func metricValue(t *testing.T, page, series string) int {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("metric %s: %q", series, v)
			}
			return n
		}
	}
	return 0
}

// getInBackground sends GET url with hdr from a goroutine of its own and
// puts the status on done, or -1 when the request failed. The goroutine
// ends with the request, within the client's 10s timeout; collect its
// status with awaitStatuses.
func getInBackground(done chan<- int, url string, hdr map[string]string) {
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
}

// awaitStatuses takes n statuses from done, waiting at most 10s for each,
// and fails the test unless every one is 200; what names the requests.
func awaitStatuses(t *testing.T, done <-chan int, n int, what string) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case st := <-done:
			if st != 200 {
				t.Fatalf("%s ended with %d", what, st)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not finish", what)
		}
	}
}

// freezeRedis stops the Redis server with SIGSTOP and returns resume,
// which sends SIGCONT once however often it is called; the test's cleanup
// calls it too, so a failing test never leaves Redis frozen.
func freezeRedis(t *testing.T, srv *testredis.Server) (resume func()) {
	t.Helper()
	if err := syscall.Kill(srv.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { _ = syscall.Kill(srv.PID(), syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}

// patientSharedLimitConfig is sharedLimitConfig with Redis timeouts long
// enough to outlast a frozen server, plus a route without the limit:
// engine, upstream, Redis address, the policy's extra keys and its rate.
func patientSharedLimitConfig(engine, upstream, redis, policy string, rate int) string {
	cfg := fmt.Sprintf(sharedLimitConfig, engine, upstream, redis, policy, "", rate)
	cfg = strings.Replace(strings.Replace(cfg, "timeout: 500ms", "timeout: 3s", 1), "dial_timeout: 200ms", "dial_timeout: 3s", 1)
	return cfg + "  - {name: plain, methods: [GET], path: /api/v1/customers, upstream: demo}\n"
}

// checkAnswer checks one row of an end-to-end table: the status, and for
// a refusal (reason set) the problem+json reason, that the problem says
// detail (when set), and that the upstream received nothing (reached
// counts the requests it got since the row began). It reports whether
// the status was right, so the caller records the request's id, and
// whether the request went through, so the caller checks what the
// upstream received.
func checkAnswer(t *testing.T, name string, resp e2etest.Response, status int, reason, detail string, reached uint64) (statusOK, passed bool) {
	t.Helper()
	if resp.Status != status {
		t.Errorf("%s: status %d, want %d: %s", name, resp.Status, status, resp.Body)
		return false, false
	}
	if reason == "" {
		return true, true
	}
	e2etest.AssertProblem(t, resp, status, reason)
	if detail != "" && !strings.Contains(resp.Body, detail) {
		t.Errorf("%s: the problem does not say %q: %s", name, detail, resp.Body)
	}
	if reached != 0 {
		t.Errorf("%s: refused, but the upstream received %d requests", name, reached)
	}
	return true, false
}

// eachEngine runs test as a subtest named after each engine, fasthttp and
// gnet, for tests whose config names the engine itself (onBothEngines is
// the shortcut for tests on e2etest.BaseConfig).
func eachEngine(t *testing.T, test func(t *testing.T, engine string)) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) { test(t, engine) })
	}
}

// withClaims sets every claim of over on c, deleting those whose value is
// nil, and returns c: a test's variation on the claims helper's token.
func withClaims(c, over map[string]any) map[string]any {
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}
