package proxy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
)

// Problem reasons the table expects.
const (
	malformed     = "request.malformed"
	ambiguous     = "request.ambiguous_framing"
	badPath       = "request.bad_path"
	badVersion    = "request.version_not_supported"
	confToken     = "secret-from-config"
	upstreamExtra = "    remove_headers: [X-Original-URL, X-Api-Key]\n    set_headers: {X-Upstream-Token: " + confToken + "}\n"
)

type conformanceCase struct {
	name   string
	raw    string
	status int    // of every answer
	reason string // of a refusal; "" for an answer forwarded from the upstream
	closed bool   // the proxy closes the connection after the answers
	n      int    // answers expected; 0 means 1
	// echo checks the upstream's view of a forwarded case, one Echoed per
	// answer; nil for a refusal, which the upstream must never see. A
	// forwarded case whose answer is not an echo sets answer instead,
	// which checks the bytes the client got.
	echo   func(t *testing.T, e []e2etest.Echoed)
	answer func(t *testing.T, raw string)
}

// conformanceOutcome is what one engine did with one case.
type conformanceOutcome struct {
	status int // of the last answer; 0 when none came
	reason string
	closed bool
}

// refuse400 and refuse505 are refusals: the connection closes and the
// upstream is not contacted.
func refuse400(name, reason, raw string) conformanceCase {
	return conformanceCase{name: name, raw: raw, status: 400, reason: reason, closed: true}
}

func refuse505(name, raw string) conformanceCase {
	return conformanceCase{name: name, raw: raw, status: 505, reason: badVersion, closed: true}
}

// headerValues returns every value the upstream received for name, any case.
func headerValues(e e2etest.Echoed, name string) []string {
	var out []string
	for k, v := range e.Headers {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}

// wantURIs checks the targets the upstream received, in order.
func wantURIs(uris ...string) func(t *testing.T, e []e2etest.Echoed) {
	return func(t *testing.T, e []e2etest.Echoed) {
		for i, u := range uris {
			if e[i].URI != u || e[i].Method != "GET" {
				t.Errorf("upstream request %d = %s %q, want GET %q", i+1, e[i].Method, e[i].URI, u)
			}
		}
	}
}

const h11 = " HTTP/1.1\r\nHost: x\r\n"

var conformanceCases = []conformanceCase{
	// Framing a second parser could read differently: request smuggling.
	refuse400("CL.TE", ambiguous, "POST /echo/x"+h11+"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
	refuse400("TE.CL", ambiguous, "POST /echo/x"+h11+"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"),
	refuse400("duplicate differing CL", malformed, "POST /echo/x"+h11+"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
	refuse400("obfuscated TE", malformed, "POST /echo/x"+h11+"Transfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
	refuse400("TE list", malformed, "POST /echo/x"+h11+"Transfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
	refuse400("bad chunk size", malformed, "POST /echo/x"+h11+"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
	refuse400("chunk line bare LF", malformed, "POST /echo/x"+h11+"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
	// Header syntax (RFC 9112 §2.2, §5) and values (RFC 9110 §5.5).
	refuse400("space before colon", malformed, "POST /echo/x"+h11+"Content-Length : 3\r\n\r\nabc"),
	refuse400("obs-fold SP", malformed, "GET /echo/x"+h11+"X-A: a\r\n folded\r\n\r\n"),
	refuse400("obs-fold HTAB", malformed, "GET /echo/x"+h11+"X-A: a\r\n\tfolded\r\n\r\n"),
	refuse400("field name not a token", malformed, "GET /echo/x"+h11+"X Note: 1\r\n\r\n"),
	refuse400("NUL in value", malformed, "GET /echo/x"+h11+"X-A: a\x00b\r\n\r\n"),
	refuse400("CTL 0x01 in value", malformed, "GET /echo/x"+h11+"X-A: a\x01b\r\n\r\n"),
	refuse400("header line bare LF", malformed, "GET /echo/x HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
	refuse400("no Host in 1.1", malformed, "GET /echo/x HTTP/1.1\r\n\r\n"),
	refuse400("two Hosts", malformed, "GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
	// Versions (RFC 9112 §2.3): malformed is 400, well-formed but not 1.x is 505.
	refuse400("HTTP/0.9 request line", malformed, "GET /echo/x\r\n\r\n"),
	refuse400("version HTTP/1.x", malformed, "GET /echo/x HTTP/1.x\r\nHost: x\r\n\r\n"),
	refuse400("version HTTX/1.1", malformed, "GET /echo/x HTTX/1.1\r\nHost: x\r\n\r\n"),
	refuse505("version HTTP/9.9", "GET /echo/x HTTP/9.9\r\nHost: x\r\n\r\n"),
	refuse505("version HTTP/2.0", "GET /echo/x HTTP/2.0\r\nHost: x\r\n\r\n"),
	// Path tricks are refused; dot segments inside the tree are resolved
	// (router.Normalize, RFC 3986 §5.2.4).
	refuse400("encoded dot segment", badPath, "GET /echo/%2e%2e/x"+h11+"\r\n"),
	refuse400("encoded slash", badPath, "GET /echo/a%2Fb"+h11+"\r\n"),
	{name: "dot segment resolved", raw: "GET /echo/a/../b" + h11 + "\r\n", status: 200, echo: wantURIs("/echo/b")},

	// HTTP/1.0 without Host is legal and forwarded, as HTTP/1.1 (the proxy
	// speaks its own version upstream); 1.0 without keep-alive closes.
	{name: "HTTP/1.0 without Host", raw: "GET /echo/old HTTP/1.0\r\n\r\n", status: 200, closed: true,
		echo: func(t *testing.T, e []e2etest.Echoed) {
			wantURIs("/echo/old")(t, e)
			if e[0].Proto != "HTTP/1.1" {
				t.Errorf("upstream received %s, want the proxy's own HTTP/1.1", e[0].Proto)
			}
		}},
	// An HTTP/1.0 client cannot read chunked coding: a chunked answer from
	// the upstream reaches it decoded and delimited by the close.
	{name: "HTTP/1.0 gets a chunked answer decoded", raw: "GET /api/v1/events?n=3&interval=0s HTTP/1.0\r\nHost: x\r\n\r\n", status: 200, closed: true,
		answer: func(t *testing.T, raw string) {
			head, body, _ := strings.Cut(raw, "\r\n\r\n")
			if strings.Contains(strings.ToLower(head), "transfer-encoding") {
				t.Errorf("an HTTP/1.0 client got chunked coding:\n%s", head)
			}
			if n := strings.Count(body, "data: "); n != 3 || strings.Contains(body, "0\r\n\r\n") {
				t.Errorf("body holds %d events (want 3) or chunk framing:\n%q", n, body)
			}
		}},
	{name: "credentials and config headers", status: 200,
		raw: "GET /echo/cred" + h11 + "X-Original-URL: /admin\r\nX-Api-Key: k\r\nX-Upstream-Token: forged\r\n\r\n",
		echo: func(t *testing.T, e []e2etest.Echoed) {
			for _, h := range []string{"X-Original-URL", "X-Api-Key"} {
				if v := headerValues(e[0], h); len(v) != 0 {
					t.Errorf("upstream received %s %q, which the upstream's remove_headers strips", h, v)
				}
			}
			if v := headerValues(e[0], "X-Upstream-Token"); len(v) != 1 || v[0] != confToken {
				t.Errorf("upstream received X-Upstream-Token %q, want only the configured %q", v, confToken)
			}
		}},
	{name: "hop-by-hop and X-Forwarded-For", status: 200,
		raw: "GET /echo/hop" + h11 + "Connection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n" +
			"TE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 203.0.113.66\r\n\r\n",
		echo: func(t *testing.T, e []e2etest.Echoed) {
			for _, h := range []string{"X-Secret-Hop", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection"} {
				if v := headerValues(e[0], h); len(v) != 0 {
					t.Errorf("hop-by-hop %s %q reached the upstream", h, v)
				}
			}
			if v := headerValues(e[0], "X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q, want the peer 127.0.0.1 alone (the client is not trusted)", v)
			}
		}},
	// Trailer fields of a chunked body are dropped, never merged into the
	// header section where they would dodge remove_headers (RFC 9110
	// §6.5.1); a header field of the same name is still forwarded.
	{name: "trailer fields dropped", status: 200,
		raw: "POST /echo/tr" + h11 + "X-T: head\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n" +
			"X-Api-Key: forged\r\nX-Original-URL: /admin\r\nX-T: trailer\r\nX-Upstream-Token: forged\r\n\r\n",
		echo: func(t *testing.T, e []e2etest.Echoed) {
			for _, h := range []string{"X-Api-Key", "X-Original-URL", "Trailer"} {
				if v := headerValues(e[0], h); len(v) != 0 {
					t.Errorf("trailer field %s %q reached the upstream", h, v)
				}
			}
			if v := headerValues(e[0], "X-T"); len(v) != 1 || v[0] != "head" {
				t.Errorf("X-T = %q, want the header's value alone", v)
			}
			if v := headerValues(e[0], "X-Upstream-Token"); len(v) != 1 || v[0] != confToken {
				t.Errorf("X-Upstream-Token = %q, want only the configured one", v)
			}
		}},
	// userinfo, in Host or in an absolute-form target, is an error (RFC
	// 9110 §4.2.4, §7.2): read leniently it becomes upstream credentials.
	refuse400("Host with userinfo", malformed, "GET /echo/x HTTP/1.1\r\nHost: u@x\r\n\r\n"),
	refuse400("Host not a host", malformed, "GET /echo/x HTTP/1.1\r\nHost: x/y\r\n\r\n"),
	refuse400("absolute form with userinfo", badPath, "GET http://u:p@x/echo/x HTTP/1.1\r\nHost: x\r\n\r\n"),
	{name: "Content-Length with leading zeros", status: 200,
		raw: "POST /echo/zeros" + h11 + "Content-Length: 003\r\n\r\nabc",
		echo: func(t *testing.T, e []e2etest.Echoed) {
			if v := headerValues(e[0], "Content-Length"); len(v) != 1 || v[0] != "3" {
				t.Errorf("upstream received Content-Length %q, want 3", v)
			}
		}},
	// HTTP/1.0's keep-alive extension (ab -k): kept alive while asked.
	{name: "HTTP/1.0 keep-alive", status: 200, n: 2, closed: true,
		raw:  "GET /echo/k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo/k2 HTTP/1.0\r\n\r\n",
		echo: wantURIs("/echo/k1", "/echo/k2")},
	{name: "pipelined", status: 200, n: 2,
		raw:  "GET /echo/p1" + h11 + "\r\nGET /echo/p2" + h11 + "\r\n",
		echo: wantURIs("/echo/p1", "/echo/p2")},
}

// answers is how many responses c expects.
func (c conformanceCase) answers() int { return max(c.n, 1) }

// TestConformance runs the conformance table, which holds the two engines
// to one HTTP/1.1 behaviour. Each case is raw bytes on a fresh connection;
// each engine must give the expected answer (status, problem reason, whether the connection is
// closed) and the upstream must see exactly what the case expects: nothing
// for a refusal, the rewritten request for a forwarded one. The engines'
// outcomes are compared at the end, as any difference between them is a
// bug in one of them, whichever the table's expectations hold.
func TestConformance(t *testing.T) {
	up := e2etest.StartUpstream(t)
	got := map[string]map[string]conformanceOutcome{} // engine → case → outcome
	engines := []string{"fasthttp", "gnet"}
	for _, engine := range engines {
		got[engine] = map[string]conformanceOutcome{}
		t.Run(engine, func(t *testing.T) {
			// header_timeout is well above the 1s every answer must come
			// within, so an answer given only at the timeout is caught.
			cfg := fmt.Sprintf(e2etest.BaseConfig, up.Addr, "    engine: "+engine+"\n    header_timeout: 2s", "")
			withHeaders := strings.Replace(cfg, "    timeout: 5s\nroutes:", "    timeout: 5s\n"+upstreamExtra+"routes:", 1)
			if withHeaders == cfg {
				t.Fatal("BaseConfig's upstream block changed shape; cannot add remove_headers/set_headers")
			}
			p := startProxy(t, withHeaders)
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					runConformanceCase(t, up, p.addr, c, func(o conformanceOutcome) { got[engine][c.name] = o })
				})
			}
		})
	}
	t.Run("engines agree", func(t *testing.T) {
		for _, c := range conformanceCases {
			a, b := got[engines[0]][c.name], got[engines[1]][c.name]
			if a != b {
				t.Errorf("%s: %s gave %+v, %s gave %+v", c.name, engines[0], a, engines[1], b)
			}
		}
	})
}

// runConformanceCase sends c on a fresh connection, checks the answers and
// the upstream's view against c; record gets the outcome before any check.
func runConformanceCase(t *testing.T, up *e2etest.Upstream, addr string, c conformanceCase, record func(conformanceOutcome)) {
	before := up.Requests()
	x := e2etest.RawExchange(t, addr, c.raw, c.answers())
	contacted := up.Requests() - before
	var o conformanceOutcome
	o.closed = x.Closed
	if n := len(x.Responses); n > 0 {
		last := x.Responses[n-1]
		o.status = last.Status
		var p struct {
			Reason string `json:"reason"`
		}
		if strings.HasPrefix(last.Header.Get("Content-Type"), "application/problem+json") && json.Unmarshal([]byte(last.Body), &p) == nil {
			o.reason = p.Reason
		}
	}
	record(o)
	want := conformanceOutcome{status: c.status, reason: c.reason, closed: c.closed}
	if x.Err != nil || o != want {
		t.Errorf("got %+v (err %v), want %+v\nraw answer:\n%s", o, x.Err, want, x.Raw)
	}
	if x.Elapsed > time.Second {
		t.Errorf("answered after %v, want at once (within 1s), not at a timeout", x.Elapsed)
	}
	if c.answer != nil {
		if contacted != 1 {
			t.Errorf("upstream received %d requests, want 1", contacted)
		}
		c.answer(t, x.Raw)
		return
	}
	if c.echo == nil {
		if contacted != 0 {
			t.Errorf("upstream received %d requests, want none", contacted)
		}
		if len(x.Responses) == 1 && x.Responses[0].Status == c.status {
			e2etest.AssertProblem(t, x.Responses[0], c.status, c.reason)
		}
		return
	}
	if contacted != uint64(c.answers()) {
		t.Errorf("upstream received %d requests, want %d", contacted, c.answers())
	}
	if len(x.Responses) != c.answers() {
		return // reported above
	}
	echoes := make([]e2etest.Echoed, len(x.Responses))
	for i, r := range x.Responses {
		if r.Status != c.status {
			t.Fatalf("answer %d: status %d, want %d: %s", i+1, r.Status, c.status, r.Body)
		}
		echoes[i] = e2etest.DecodeEcho(t, r)
	}
	c.echo(t, echoes)
}
