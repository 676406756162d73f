package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// introspectOffLoopConfig is an echo route behind RFC 7662 introspection:
// %[1]s engine, %[2]s upstream, %[3]s introspection endpoint.
const introspectOffLoopConfig = `
log: {level: warn}
admin: {listen: 127.0.0.1:0}
listeners: [{name: public, listen: 127.0.0.1:0, engine: %[1]s}]
upstreams: [{name: demo, targets: [%[2]s], timeout: 5s}]
routes:
  - name: echo
    methods: [GET]
    path: /echo/*
    upstream: demo
    filters:
      - name: introspect
        config: {endpoint: "%[3]s", client_id: proxy, client_secret: s3cret, timeout: 5s}
`

// startCountingIntrospection serves an RFC 7662 endpoint on loopback: "good" is
// active for alice, "slow" is active for bob once release is closed,
// anything else is inactive. calls counts the requests it got.
func startCountingIntrospection(t *testing.T) (url string, calls *atomic.Int64, release chan struct{}) {
	t.Helper()
	calls = &atomic.Int64{}
	release = make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.PostFormValue("token") {
		case "good":
			fmt.Fprintf(w, `{"active":true,"sub":"alice","exp":%d}`, exp)
		case "slow":
			select {
			case <-release:
			case <-time.After(8 * time.Second):
			}
			fmt.Fprintf(w, `{"active":true,"sub":"bob","exp":%d}`, exp)
		default:
			fmt.Fprint(w, `{"active":false}`)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/introspect", calls, release
}

// TestIntrospectionCacheHitDecidedOnTheLoop wants a token the cache knows
// (accepted or refused) decided on the gnet event loop, and a token it
// does not know introspected off the loop, which meanwhile keeps
// answering cached tokens on the same route. The upstream receives the
// introspected subject and never the token.
func TestIntrospectionCacheHitDecidedOnTheLoop(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		url, calls, release := startCountingIntrospection(t)
		up := e2etest.StartUpstream(t)
		p := startProxy(t, fmt.Sprintf(introspectOffLoopConfig, engine, up.Addr, url))
		before := up.Stats().Requests
		good := map[string]string{"Authorization": "Bearer good"}
		for i := 0; i < 10; i++ {
			e := e2etest.DecodeEcho(t, e2etest.Do(t, "GET", p.base+"/echo/x", good, ""))
			if e.Header("X-Auth-Subject") != "alice" || e.Header("Authorization") != "" {
				t.Fatalf("request %d: upstream got subject %q authorization %q", i, e.Header("X-Auth-Subject"), e.Header("Authorization"))
			}
		}
		for i := 0; i < 5; i++ {
			r := e2etest.Do(t, "GET", p.base+"/echo/x", map[string]string{"Authorization": "Bearer bad"}, "")
			e2etest.AssertProblem(t, r, 401, "authn.token_inactive")
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("introspection calls = %d, want 2 (one per token)", n)
		}
		if got, want := waitOffLoop(t, p, offLoopWant(engine, 2)), offLoopWant(engine, 2); got != want {
			t.Fatalf("10 + 5 requests with two tokens: %s = %d, want %d (the two misses)", offLoopSeries, got, want)
		}
		// A token the server is slow to judge waits off the loop; a
		// cached token is answered meanwhile.
		done := make(chan int, 1)
		getInBackground(done, p.base+"/echo/x", map[string]string{"Authorization": "Bearer slow"})
		if got, want := waitOffLoop(t, p, offLoopWant(engine, 3)), offLoopWant(engine, 3); got != want {
			t.Fatalf("a slow token: %s = %d, want %d", offLoopSeries, got, want)
		}
		start := time.Now()
		if r := e2etest.Do(t, "GET", p.base+"/echo/x", good, ""); r.Status != 200 || time.Since(start) > time.Second {
			t.Fatalf("cached token while another is introspected: %d after %v", r.Status, time.Since(start))
		}
		close(release)
		awaitStatuses(t, done, 1, "the slow token's request")
		if got := up.Stats().Requests - before; got != 12 {
			t.Fatalf("upstream received %d requests, want 12", got)
		}
	})
}
