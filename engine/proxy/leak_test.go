package proxy_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// TestShutdownLeavesNoGoroutines serves traffic that makes every kind of
// goroutine the proxy starts — dials to upstreams, chains with a filter
// that waits (run off the event loop), the loops' sweepers, the audit
// log's writer, the admin listener — on both engines at once, shuts down,
// and then finds no goroutine running Tollgate's code: each is owned and
// stopped.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	up := e2etest.StartUpstream(t)
	keyFile, logDir, _ := auditSetup(t, t.TempDir(), "tollgate.test/audit")
	route := `  - name: queued
    path: /slow
    upstream: demo
    timeout: 5s
    filters: [{name: concurrency, config: {max_concurrent: 1, max_queue: 8, queue_timeout: 5s}}]
audit: {dir: ` + logDir + `, signing_key_file: ` + keyFile + `}`
	p := startProxy(t, fmt.Sprintf(twoEngines, up.Addr, route))
	var wg sync.WaitGroup
	for _, a := range p.Addrs() {
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := e2etest.Do(t, "GET", "http://"+a.String()+"/slow?delay=20ms", nil, ""); r.Status != 200 {
					t.Errorf("queued request: %d %s", r.Status, r.Body)
				}
			}()
		}
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e2etest.Client.CloseIdleConnections()
	var left []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left = ownGoroutines(); len(left) == 0 {
			return
		}
	}
	t.Fatalf("%d goroutines running Tollgate's code after shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
}

// ownGoroutines returns the stacks of goroutines in Tollgate's packages,
// leaving out this test's own and the demo upstream's (the test's
// harness, stopped at cleanup).
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "github.com/tollgate-proxy/tollgate/") ||
			strings.Contains(g, "proxy_test.") || strings.Contains(g, "tollgate/bench/upstream") ||
			strings.Contains(g, "internal/e2etest") {
			continue
		}
		out = append(out, g)
	}
	return out
}
