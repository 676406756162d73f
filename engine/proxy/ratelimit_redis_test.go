package proxy_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/internal/testredis"
)

// sharedLimitConfig is one route behind a ratelimit policy counted in
// Redis: %[1]s engine, %[2]s upstream, %[3]s Redis addresses, %[4]s the
// policy's extra keys, %[5]s extra top-level sections.
const sharedLimitConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0, engine: %[1]s}]
upstreams: [{name: demo, targets: [%[2]s], timeout: 5s}]
%[5]s
routes:
  - name: limited
    methods: [GET]
    path: /api/v1/customers/{id}
    upstream: demo
    filters:
      - name: ratelimit
        config:
          redis: {addresses: [%[3]s], timeout: 500ms, dial_timeout: 200ms, breaker_interval: 300ms}
          policies:
            - {name: cluster, rate: %[6]d, per: 60s, key: ["header:X-Client"], store: redis, %[4]s}
`

// leaseBound is the README's lease bound for a fresh key: instances ×
// (lease + ⌊lease/2⌋) requests may be held unspent or on their way back.
func leaseBound(instances, lease int) int { return instances * (lease + lease/2) }

// TestSharedLimitAcrossThreeProxies runs three proxies with the same config
// against one Redis and sends 3N requests round-robin for one client: a
// limit of N per minute admits N between them — exactly in mode exact, and
// within the documented lease bound in mode lease (never more than N plus
// the refill during the run). The upstream receives exactly the admitted
// requests; every refusal is a 429 problem.
func TestSharedLimitAcrossThreeProxies(t *testing.T) {
	srv := testredis.Start(t)
	const n = 30
	eachEngine(t, func(t *testing.T, engine string) {
		for _, mode := range []string{"mode: exact, on_store_error: deny", "mode: lease, lease: 3, lease_ttl: 30s, on_store_error: deny"} {
			t.Run(strings.TrimSuffix(strings.Fields(mode)[1], ","), func(t *testing.T) {
				up := e2etest.StartUpstream(t)
				cfg := fmt.Sprintf(sharedLimitConfig, engine, up.Addr, srv.Addr, mode, "", n)
				ps := []*testProxy{startProxy(t, cfg), startProxy(t, cfg), startProxy(t, cfg)}
				client := "c-" + engine + "-" + strings.TrimSuffix(strings.Fields(mode)[1], ",")
				before := up.Stats().Requests
				start := time.Now()
				admitted := sendRoundRobin(t, ps, client, 3*n)
				refill := int(time.Since(start)/(2*time.Second)) + 1 // N/min: one per 2s
				low := n
				if strings.Contains(mode, "lease") {
					low = n - leaseBound(3, 3)
				}
				if admitted < low || admitted > n+refill {
					t.Fatalf("admitted %d of %d across three proxies, want %d..%d", admitted, 3*n, low, n+refill)
				}
				if got := up.Stats().Requests - before; got != uint64(admitted) {
					t.Fatalf("upstream received %d requests, clients were admitted %d", got, admitted)
				}
			})
		}
	})
}

// sendRoundRobin sends count requests for client over ps in turn and
// returns how many got 200; every other answer must be a 429 problem.
func sendRoundRobin(t *testing.T, ps []*testProxy, client string, count int) int {
	t.Helper()
	admitted := 0
	for i := 0; i < count; i++ {
		r := e2etest.Do(t, "GET", ps[i%len(ps)].base+"/api/v1/customers/1", map[string]string{"X-Client": client}, "")
		switch r.Status {
		case 200:
			admitted++
		case 429:
			e2etest.AssertProblem(t, r, 429, "ratelimit.exceeded")
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After")
			}
		default:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	return admitted
}

// TestRedisKilledMidRun kills Redis by PID while a proxy is serving and
// wants the policy's on_store_error honoured — allow: everything passes;
// deny: 503 ratelimit.store_unavailable and nothing reaches the upstream;
// local: the instance's own limiter (burst N) — with every such request's
// audit record flagged as a fallback; after a restart the store decides
// again within the breaker interval, and the proxy never crashed.
func TestRedisKilledMidRun(t *testing.T) {
	srv := testredis.Start(t)
	const n = 10
	eachEngine(t, func(t *testing.T, engine string) {
		for _, onError := range []string{"allow", "deny", "local"} {
			t.Run(onError, func(t *testing.T) {
				up := e2etest.StartUpstream(t)
				dir := t.TempDir()
				keyFile, logDir, _ := auditSetup(t, dir, "tollgate.test/redis")
				audit := fmt.Sprintf("audit: {dir: %s, signing_key_file: %s}", logDir, keyFile)
				cfg := fmt.Sprintf(sharedLimitConfig, engine, up.Addr, srv.Addr, "on_store_error: "+onError, audit, n)
				p := startProxy(t, cfg)
				client := "k-" + engine + "-" + onError
				do := func() e2etest.Response {
					return e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", map[string]string{"X-Client": client}, "")
				}
				if r := do(); r.Status != 200 {
					t.Fatalf("before the kill: %d %s", r.Status, r.Body)
				}
				srv.Kill()
				before := up.Stats().Requests
				counts := map[int]int{}
				const outage = 2 * n
				for i := 0; i < outage; i++ {
					r := do()
					counts[r.Status]++
					if r.Status == 503 {
						e2etest.AssertProblem(t, r, 503, "ratelimit.store_unavailable")
					}
				}
				forwarded := int(up.Stats().Requests - before)
				switch onError {
				case "allow":
					if counts[200] != outage {
						t.Fatalf("allow: %v", counts)
					}
				case "deny":
					if counts[503] != outage || forwarded != 0 {
						t.Fatalf("deny: %v, upstream got %d", counts, forwarded)
					}
				case "local":
					if counts[200] != n || counts[429] != n {
						t.Fatalf("local: %v, want %d admitted by the local limiter", counts, n)
					}
				}
				if forwarded != counts[200] {
					t.Fatalf("upstream got %d, clients were admitted %d", forwarded, counts[200])
				}
				// Recovery: once Redis is back, a request is decided by the
				// store again (the fallback counter stops moving) within the
				// breaker interval, give or take the restart.
				srv.Restart()
				restarted := time.Now()
				fallbacks := func() int {
					return metricValue(t, metricsOf(t, p), `tollgate_ratelimit_store_fallbacks_total{route="limited",policy="cluster",mode="`+onError+`"}`)
				}
				for {
					f0 := fallbacks()
					r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", map[string]string{"X-Client": client + "-after"}, "")
					if r.Status == 200 && fallbacks() == f0 {
						break
					}
					if time.Since(restarted) > 2*time.Second {
						t.Fatalf("not recovered 2s after the restart (breaker interval 300ms): %d", r.Status)
					}
					time.Sleep(20 * time.Millisecond)
				}
				total := fallbacks()
				var fb int
				shutdownAndScan(t, p, logDir, func(rec *auditlog.Record) error {
					if string(rec.Fallback()) == "ratelimit" {
						fb++
					}
					return nil
				})
				if fb != total || fb < outage {
					t.Fatalf("%d audit records flagged as fallback, want the %d counted (at least the %d sent while Redis was down)", fb, total, outage)
				}
			})
		}
	})
}

// TestSharedLimitOnRedisCluster runs three proxies against a three-node
// Redis Cluster: many clients' keys spread over the nodes, each key in one
// slot (its identity is one hash tag), and each client is admitted exactly
// N between the proxies.
func TestSharedLimitOnRedisCluster(t *testing.T) {
	c := testredis.StartCluster(t, 3)
	const n = 5
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		cfg := fmt.Sprintf(sharedLimitConfig, engine, up.Addr, c.Nodes[0].Addr, "mode: exact, on_store_error: deny", "", n)
		ps := []*testProxy{startProxy(t, cfg), startProxy(t, cfg), startProxy(t, cfg)}
		for k := 0; k < 12; k++ {
			client := fmt.Sprintf("cl-%s-%d", engine, k)
			if got := sendRoundRobin(t, ps, client, 2*n); got < n || got > n+1 {
				t.Fatalf("client %s: admitted %d, want %d", client, got, n)
			}
		}
		for i, node := range c.Nodes {
			if len(node.Keys("tollgate:rl:*")) == 0 {
				t.Errorf("cluster node %d holds no rate-limit keys", i)
			}
		}
	})
}

// TestStalledRedisDoesNotBlockTheEventLoop freezes Redis (SIGSTOP) while
// requests of a shared-limit route wait for it, and wants a route without
// the limit answered at once on both engines: the filter declares that it
// may block, so the gnet engine runs its chain off the event loop.
func TestStalledRedisDoesNotBlockTheEventLoop(t *testing.T) {
	srv := testredis.Start(t)
	eachEngine(t, func(t *testing.T, engine string) {
		up := e2etest.StartUpstream(t)
		p := startProxy(t, patientSharedLimitConfig(engine, up.Addr, srv.Addr, "on_store_error: allow", 100))
		if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", map[string]string{"X-Client": "warm"}, ""); r.Status != 200 {
			t.Fatalf("warm-up: %d", r.Status)
		}
		resume := freezeRedis(t, srv)
		// More waiting requests than the engine has event loops.
		const waiting = 8
		done := make(chan int, waiting)
		for i := 0; i < waiting; i++ {
			getInBackground(done, p.base+"/api/v1/customers/1", map[string]string{"X-Client": fmt.Sprint("stalled-", i)})
		}
		time.Sleep(200 * time.Millisecond) // they are waiting for Redis now
		start := time.Now()
		r := e2etest.Do(t, "GET", p.base+"/api/v1/customers", nil, "")
		if took := time.Since(start); r.Status != 200 || took > time.Second {
			t.Fatalf("plain route while Redis is frozen: %d after %v", r.Status, took)
		}
		resume()
		awaitStatuses(t, done, waiting, "a request waiting for Redis")
	})
}

// TestReloadClosesTheRedisClient reloads a proxy with a shared limit five
// times, a request each time, and wants Redis to see no more client
// connections than one generation holds: each retired generation closes
// its filter's client (and stops its lease workers).
func TestReloadClosesTheRedisClient(t *testing.T) {
	srv := testredis.Start(t)
	up := e2etest.StartUpstream(t)
	cfg := fmt.Sprintf(sharedLimitConfig, "fasthttp", up.Addr, srv.Addr, "mode: lease, on_store_error: deny", "", 1000)
	p := startProxy(t, cfg)
	clients := func() int {
		out, err := srv.CLI("INFO", "clients")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
				var n int
				fmt.Sscan(v, &n)
				return n - 1 // not redis-cli's own
			}
		}
		t.Fatalf("no connected_clients in %q", out)
		return 0
	}
	get := func() {
		if r := e2etest.Do(t, "GET", p.base+"/api/v1/customers/1", map[string]string{"X-Client": "reload"}, ""); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	get()
	one := clients()
	if one < 1 {
		t.Fatalf("Redis sees %d clients after a request", one)
	}
	for i := 0; i < 5; i++ {
		p.rewriteConfig(t, cfg+fmt.Sprintf("# generation %d\n", i+2))
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		get()
	}
	// One live generation has been seen holding two connections on a
	// loaded machine (the client may dial more than one), so allow twice
	// the first count; six generations left open would hold six or more.
	for deadline := time.Now().Add(5 * time.Second); clients() > 2*one; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Redis sees %d clients after five reloads, %d with one generation: retired clients are not closed", clients(), one)
		}
	}
	// Shutdown stops the last generation's lease workers and client.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "tollgate/filters/ratelimit") || strings.Contains(g, "redis/rueidis") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Fatalf("%d rate-limit or Redis client goroutines left after shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
}
