package pipeline_test

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

const testConfig = `
listeners: [{name: public, listen: 127.0.0.1:0}]
upstreams:
  - name: demo
    targets: [127.0.0.1:9]
    remove_headers: [X-Api-Key]
    set_headers: {X-Upstream-Token: from-config}
routes:
  - {name: bench, methods: [GET], path: /bench, upstream: demo, filters: [{name: forwarder}]}
  - {name: item, methods: [GET, POST], path: "/api/v1/items/{id}", upstream: demo}
`

// forwarder stands in for an authentication filter that verified no one:
// it forwards an identity in two headers (filters.IdentityForwarder) and
// sets neither.
type forwarder struct{}

func (forwarder) Name() string                             { return "forwarder" }
func (forwarder) Handle(*filters.Exchange) filters.Verdict { return filters.Continue }
func (forwarder) ForwardedHeaders() []string               { return []string{"X-Auth-Subject", "X-Auth-Roles"} }

var testRegistry = filters.Registry{{Name: "forwarder", New: func(filters.Spec) (filters.Filter, error) { return forwarder{}, nil }}}

// rig is a pipeline over a compiled test config, with a parsed request
// and response head as an engine would have them.
type rig struct {
	p    *pipeline.Pipeline
	l    pipeline.Listener
	req  fasthttp.RequestHeader
	resp fasthttp.ResponseHeader
	r    pipeline.Request
	out  []byte
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(testConfig), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := engine.Compile(cfg, testRegistry, 1, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := &engine.Holder{}
	h.Swap(rt)
	tb.Cleanup(h.Close)
	p, err := pipeline.New(pipeline.Options{Holder: h})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{p: p, l: pipeline.Listener{Name: "public", MaxBodyBytes: 1 << 20}}
}

var (
	peer     = netip.MustParseAddr("127.0.0.1")
	wrkHead  = []byte("GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nX-Api-Key: k\r\nX-Auth-Subject: root\r\nx-auth-roles: admin\r\nX-Auth-Subject: root\r\n\r\n")
	respHead = []byte("HTTP/1.1 200 OK\r\nServer: demo\r\nDate: Sun, 06 Dec 2026 02:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
)

func parse(tb testing.TB, head []byte, h interface{ Read(*bufio.Reader) error }, br *bufio.Reader, src *bytes.Reader) {
	src.Reset(head)
	br.Reset(src)
	if err := h.Read(br); err != nil {
		tb.Fatal(err)
	}
}

// roundTrip is what an engine asks of the pipeline for one forwarded
// request: Begin, Filter, Admit, PrepareUpstream, PrepareResponse, End and
// Leave, with the heads serialized as they would be written.
func (g *rig) roundTrip(tb testing.TB, br *bufio.Reader, src *bytes.Reader) {
	g.req.Reset()
	g.resp.Reset()
	g.r.Reset()
	parse(tb, wrkHead, &g.req, br, src)
	if !g.p.Begin(&g.r, &g.l, &g.req, peer, time.Now()) || !g.p.FilterHead(&g.r) || !g.p.FilterBody(&g.r) {
		tb.Fatalf("refused: %v", g.r.Ex.Reason())
	}
	if _, ok := g.p.Admit(&g.r, nil); !ok {
		tb.Fatal("not admitted")
	}
	g.p.PrepareUpstream(&g.r)
	g.out = g.req.AppendBytes(g.out[:0])
	parse(tb, respHead, &g.resp, br, src)
	if !g.p.PrepareResponse(&g.r, &g.resp) {
		tb.Fatal("response refused")
	}
	g.out = g.resp.AppendBytes(g.out[:0])
	if _, err := g.p.End(&g.r, time.Now(), nil); err != nil {
		tb.Fatal(err)
	}
	g.p.Leave(&g.r)
}

func TestRoundTripRewritesBothHeads(t *testing.T) {
	g := newRig(t)
	var src bytes.Reader
	br := bufio.NewReader(&src)
	g.req.Reset()
	g.r.Reset()
	parse(t, wrkHead, &g.req, br, &src)
	if !g.p.Begin(&g.r, &g.l, &g.req, peer, time.Now()) || !g.p.FilterHead(&g.r) || !g.p.FilterBody(&g.r) {
		t.Fatalf("refused: %v", g.r.Ex.Reason())
	}
	g.p.PrepareUpstream(&g.r)
	up := string(g.req.Header())
	for _, want := range []string{"GET /bench HTTP/1.1\r\n", "X-Upstream-Token: from-config\r\n", "X-Forwarded-For: 127.0.0.1\r\n", "X-Request-Id: "} {
		if !bytes.Contains([]byte(up), []byte(want)) {
			t.Errorf("upstream head lacks %q:\n%s", want, up)
		}
	}
	if bytes.Contains([]byte(up), []byte("X-Api-Key")) {
		t.Errorf("upstream head keeps a header remove_headers strips:\n%s", up)
	}
	if bytes.Contains(bytes.ToLower([]byte(up)), []byte("x-auth-")) {
		t.Errorf("upstream head keeps a client-sent identity header:\n%s", up)
	}
	parse(t, respHead, &g.resp, br, &src)
	if !g.p.PrepareResponse(&g.r, &g.resp) || len(g.resp.Peek("X-Request-Id")) == 0 {
		t.Fatalf("response head:\n%s", g.resp.Header())
	}
	g.p.End(&g.r, time.Now(), nil)
	g.p.Leave(&g.r)
	if n := g.p.InFlight(); n != 0 {
		t.Fatalf("in flight after Leave: %d", n)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	g := newRig(b)
	var src bytes.Reader
	br := bufio.NewReader(&src)
	b.ReportAllocs()
	for b.Loop() {
		g.roundTrip(b, br, &src)
	}
}
