package upstream

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestStaleIdleConnection: a target that closes idle keep-alive
// connections sooner than the pool would (Go's IdleTimeout here, Node's
// 5 s keep-alive timeout in the wild) never costs a request: each is
// answered, and each reached the target exactly once, GET and POST alike,
// over plain TCP and over TLS (where the close comes as a close_notify
// before the FIN).
func TestStaleIdleConnection(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				served.Add(1)
				fmt.Fprintf(w, "%s %s", r.Method, body)
			}))
			srv.Config.IdleTimeout = 100 * time.Millisecond
			opts := Options{Name: "u", Targets: []string{strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")},
				ConnectTimeout: time.Second, Timeout: 2 * time.Second, IdleTimeout: time.Minute}
			if useTLS {
				srv.StartTLS()
				opts.TLS, opts.TLSConfig = true, &tls.Config{InsecureSkipVerify: true}
			} else {
				srv.Start()
			}
			defer srv.Close()
			opts.Targets = []string{srv.Listener.Addr().String()}
			p, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i, method := range []string{"GET", "POST", "GET", "POST"} {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.Header.SetMethod(method)
				req.SetRequestURI("/x")
				req.Header.SetHost("example.test")
				if useTLS {
					req.URI().SetScheme("https")
				}
				if method == "POST" {
					req.SetBodyString("order")
				}
				err := p.Do(req, resp)
				var body []byte
				if err == nil {
					if s := resp.BodyStream(); s != nil {
						body, _ = io.ReadAll(s)
						_ = resp.CloseBodyStream()
					} else {
						body = resp.Body()
					}
				}
				want := method + " "
				if method == "POST" {
					want += "order"
				}
				if err != nil || resp.StatusCode() != 200 || string(body) != want {
					t.Fatalf("request %d (%s) after the target closed the idle connection: %v %d %q", i, method, err, resp.StatusCode(), body)
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
				time.Sleep(300 * time.Millisecond) // past the target's idle timeout
			}
			if n := served.Load(); n != 4 {
				t.Fatalf("the target served %d requests, want each of the 4 once", n)
			}
		})
	}
}
