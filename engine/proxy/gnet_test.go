package proxy_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

const twoEngines = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners:
  - {name: public, listen: 127.0.0.1:0, engine: fasthttp}
  - {name: fast, listen: 127.0.0.1:0, engine: gnet}
upstreams: [{name: demo, targets: [%[1]s]}]
filters:
  - id: keys
    name: apikey
    config:
      keys: [{id: v, subject: vera, roles: [viewer], sha256: 428d2ac3da6ce4eb5cc58762a03af655a5d836bdecd00b0305afc7b2aa81adfd}]
  - id: policy
    name: rbac
    config:
      roles: {viewer: {allow: [{methods: [GET], paths: ["/api/v1/**"]}]}}
routes:
  - {name: customer, path: "/api/v1/customers/{id}", upstream: demo, filters: [{use: keys}, {use: policy}]}
%[2]s
`

// TestBothEnginesServeTheSameRuntime runs a fasthttp and a gnet listener
// side by side from one config: the same chains, the same answers.
func TestBothEnginesServeTheSameRuntime(t *testing.T) {
	up := e2etest.StartUpstream(t)
	p := startProxy(t, fmt.Sprintf(twoEngines, up.Addr, ""))
	addrs := p.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("%d listeners bound", len(addrs))
	}
	for i, a := range addrs {
		base := "http://" + a.String()
		key := map[string]string{"X-API-Key": "demo-viewer-key"}
		if r := e2etest.Do(t, "GET", base+"/api/v1/customers/1", key, ""); r.Status != 200 || !strings.Contains(r.Body, "Ada") {
			t.Errorf("listener %d: viewer read %d %s", i, r.Status, r.Body)
		}
		e2etest.AssertProblem(t, e2etest.Do(t, "DELETE", base+"/api/v1/customers/1", key, ""), 403, "rbac.method_denied")
		e2etest.AssertProblem(t, e2etest.Do(t, "GET", base+"/api/v1/customers/1", nil, ""), 401, "authn.key_missing")
		e2etest.AssertProblem(t, e2etest.Do(t, "GET", base+"/nope", nil, ""), 404, "route.not_found")
	}
}

// TestGnetRunsFiltersThatWaitOffTheLoop queues requests in a concurrency
// limit on the gnet engine: the waiting requests are served in turn, and
// meanwhile the same loop keeps answering other routes at once.
func TestGnetRunsFiltersThatWaitOffTheLoop(t *testing.T) {
	up := e2etest.StartUpstream(t)
	route := `  - name: queued
    path: /slow
    upstream: demo
    timeout: 5s
    filters: [{name: concurrency, config: {max_concurrent: 1, max_queue: 4, queue_timeout: 5s}}]`
	p := startProxy(t, fmt.Sprintf(twoEngines, up.Addr, route))
	base := "http://" + p.Addrs()[1].String() // the gnet listener
	const n = 4
	start := time.Now()
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e2etest.Do(t, "GET", base+"/slow?delay=200ms", nil, "").Status
		}()
	}
	// While they queue, a request on another route is answered at once.
	time.Sleep(50 * time.Millisecond)
	quickStart := time.Now()
	key := map[string]string{"X-API-Key": "demo-viewer-key"}
	if r := e2etest.Do(t, "GET", base+"/api/v1/customers/1", key, ""); r.Status != 200 {
		t.Fatalf("other route while requests queue: %d %s", r.Status, r.Body)
	}
	if d := time.Since(quickStart); d > 150*time.Millisecond {
		t.Fatalf("other route took %v while requests queued: the loop waited", d)
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Fatalf("queued request %d: status %d", i, st)
		}
	}
	// One at a time: the four take about four delays, not one.
	if d := time.Since(start); d < 4*200*time.Millisecond {
		t.Fatalf("%d requests through a limit of 1 took %v: they were not queued", n, d)
	}
}

// TestFiltersThatWaitBeforeTheBody: when the head part of a chain waits
// off the event loop (a concurrency queue), a body the client sent at once
// is read when the part allows the request, not when more bytes come.
func TestFiltersThatWaitBeforeTheBody(t *testing.T) {
	up := e2etest.StartUpstream(t)
	route := `  - name: queued-orders
    methods: [POST]
    path: /echo/queued
    upstream: demo
    filters: [{name: concurrency, config: {max_concurrent: 1, max_queue: 4, queue_timeout: 5s}}]`
	p := startProxy(t, fmt.Sprintf(twoEngines, up.Addr, route))
	for i, a := range p.Addrs() {
		start := time.Now()
		status, text := e2etest.RawRequest(t, a.String(), "POST /echo/queued HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
		if status != 200 || !strings.Contains(text, `"body_length":5`) || time.Since(start) > time.Second {
			t.Fatalf("listener %d: %d after %v\n%s", i, status, time.Since(start), text)
		}
	}
}
