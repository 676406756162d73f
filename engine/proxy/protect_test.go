package proxy_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

const protectConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams: [{name: demo, targets: [%[1]s], timeout: 10s}]
audit: {dir: %[2]s, signing_key_file: %[3]s, checkpoint_interval: 50ms}
routes:
  - name: limited
    methods: [GET]
    path: /api/v1/customers/{id}
    upstream: demo
    filters:
      - name: ratelimit
        config:
          policies: [{name: per-ip, rate: 3, per: 60s, burst: 3, key: [client_ip]}]
  - name: throttled
    methods: [GET]
    path: /slow
    upstream: demo
    filters:
      - name: concurrency
        config: {max_concurrent: 2, max_queue: 2, queue_timeout: 150ms}
  - name: open
    methods: [GET]
    path: /api/v1/customers
    upstream: demo
`

func TestRateLimitAndThrottlingThroughTheProxy(t *testing.T) {
	for _, engine := range []string{"fasthttp", "gnet"} {
		t.Run(engine, func(t *testing.T) { rateLimitAndThrottlingThroughTheProxy(t, engine) })
	}
}

func rateLimitAndThrottlingThroughTheProxy(t *testing.T, engine string) {
	up := e2etest.StartUpstream(t)
	dir := t.TempDir()
	keyFile, logDir, vkey := auditSetup(t, dir, "tollgate.test/protect")
	p := startProxy(t, onEngine(t, fmt.Sprintf(protectConfig, up.Addr, logDir, keyFile), engine))

	// Rate limit: 3 per minute per client IP, then 429 with Retry-After
	// and the draft RateLimit headers; the upstream sees only 3.
	before := up.PathRequests("/api/v1/customers/1")
	var limitedIDs []string
	for i := 0; i < 5; i++ {
		r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", nil, "")
		if i < 3 {
			if r.Status != 200 || r.Header.Get("RateLimit") == "" || r.Header.Get("RateLimit-Policy") == "" {
				t.Fatalf("request %d: %d, RateLimit %q, RateLimit-Policy %q", i, r.Status, r.Header.Get("RateLimit"), r.Header.Get("RateLimit-Policy"))
			}
			continue
		}
		e2etest.AssertProblem(t, r, 429, "ratelimit.exceeded")
		if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("429 Retry-After = %q", ra)
		}
		limitedIDs = append(limitedIDs, r.Header.Get("X-Request-Id"))
	}
	if n := up.PathRequests("/api/v1/customers/1") - before; n != 3 {
		t.Fatalf("upstream saw %d limited-route requests, want 3", n)
	}
	// A spoofed X-Forwarded-For from an untrusted client does not reset it.
	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", map[string]string{"X-Forwarded-For": "203.0.113.9"}, ""); r.Status != 429 {
		t.Fatalf("spoofed XFF reset the limit: %d", r.Status)
	}

	// Throttling: a surge of 12 slow requests; the upstream never sees
	// more than 2 at once, the overflow is shed with 503, and the proxy
	// keeps answering other routes meanwhile.
	var ok, shed atomic.Int32
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n := up.Stats().InFlight; n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e2etest.Do(t, "GET", p.base+"/slow?delay=300ms", nil, "")
			switch {
			case r.Status == 200:
				ok.Add(1)
			case r.Status == 503 && strings.Contains(r.Body, "throttle.queue_"):
				shed.Add(1)
			default:
				t.Errorf("surge request: %d %s", r.Status, r.Body)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers", nil, ""); r.Status != 200 || time.Since(start) > time.Second {
		t.Errorf("other route during the surge: %d after %v", r.Status, time.Since(start))
	}
	wg.Wait()
	close(stop)
	if peak.Load() > 2 {
		t.Fatalf("upstream saw %d concurrent requests, limit is 2", peak.Load())
	}
	if ok.Load() < 2 || shed.Load() == 0 || ok.Load()+shed.Load() != 12 {
		t.Fatalf("surge: %d served, %d shed", ok.Load(), shed.Load())
	}

	counts := map[string]int{}
	recorded := map[string]bool{}
	shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
		counts[rec.Decision.String()+" "+string(rec.Reason)]++
		recorded[string(rec.RequestID)] = true
		return nil
	})
	if counts["limited ratelimit.exceeded"] != 3 || counts["throttled throttle.queue_full"]+counts["throttled throttle.queue_timeout"] != int(shed.Load()) {
		t.Fatalf("audit decisions %v: want 3 limited and %d throttled", counts, shed.Load())
	}
	for _, id := range limitedIDs {
		if !recorded[id] {
			t.Fatalf("limited request %s not in the audit log", id)
		}
	}
	if _, err := auditlog.Verify(auditlog.VerifyOptions{Dir: logDir, VerifierKey: vkey}); err != nil {
		t.Fatal(err)
	}
}
