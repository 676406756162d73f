package upstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits of the endpoints; each keeps one request's cost bounded.
const (
	maxRequestBody  = 8 << 20
	maxSlowDelay    = 60 * time.Second
	defaultSlow     = time.Second
	maxEvents       = 10000
	defaultEvents   = 5
	maxInterval     = 60 * time.Second
	defaultInterval = 100 * time.Millisecond
)

// Customer is one of the demo upstream's fixed customers.
type Customer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Plan  string `json:"plan"`
}

// Customers returns the fixed customers served by /api/v1/customers, in
// order; the slice is the caller's.
func Customers() []Customer {
	c := customers // copies the array
	return c[:]
}

// customers is a value array: Customers hands out copies.
var customers = [...]Customer{
	{ID: "1", Name: "Ada Lovelace", Email: "ada@example.com", Plan: "enterprise"},
	{ID: "2", Name: "Grace Hopper", Email: "grace@example.com", Plan: "team"},
	{ID: "3", Name: "Alan Turing", Email: "alan@example.com", Plan: "free"},
	{ID: "42", Name: "Arthur Dent", Email: "arthur@example.com", Plan: "free"},
}

// Echo is the JSON answer of /echo/...: what the upstream received.
type Echo struct {
	// Method is the request method.
	Method string `json:"method"`
	// Path is the path as normalized by the HTTP server.
	Path string `json:"path"`
	// URI is the raw request target, exactly as received.
	URI string `json:"uri"`
	// Proto is the request's protocol version, such as HTTP/1.1.
	Proto string `json:"proto"`
	// Query is the raw query string, without '?'.
	Query string `json:"query"`
	// Host is the Host header.
	Host string `json:"host"`
	// RemoteAddr is the peer's address (the proxy's, behind a proxy).
	RemoteAddr string `json:"remote_addr"`
	// Headers are all request headers by canonical name, in arrival order
	// for repeated names.
	Headers map[string][]string `json:"headers"`
	// BodyLength is the request body's length in bytes.
	BodyLength int `json:"body_length"`
}

// Order is the JSON answer of POST /api/v1/orders.
type Order struct {
	// ID is the new order's identifier, "ord_" and six or more digits.
	ID string `json:"id"`
	// Status is always "created".
	Status string `json:"status"`
	// Fields echoes the request's JSON object.
	Fields map[string]json.RawMessage `json:"order"`
}

// BenchBody is the fixed body of GET /bench, about 100 bytes.
const BenchBody = `{"id":1,"name":"tollgate","status":"ok","tags":["bench","fixed"],"message":"hello from the upstream"}`

// bodies are the responses rendered once, at New.
type bodies struct {
	customers []byte
	customer  map[string][]byte
}

func newBodies() bodies {
	b := bodies{customer: make(map[string][]byte, len(customers))}
	list := struct {
		Customers []Customer `json:"customers"`
		Count     int        `json:"count"`
	}{customers[:], len(customers)}
	b.customers = mustJSON(list)
	for _, c := range customers {
		b.customer[c.ID] = mustJSON(c)
	}
	return b
}

// mustJSON marshals values built at New from fixed data; it cannot fail.
func mustJSON(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cannot marshal fixed body: %v", err))
	}
	return out
}

var (
	strBench        = []byte("/bench")
	strEcho         = []byte("/echo")
	strCustomers    = []byte("/api/v1/customers")
	strCustomersDir = []byte("/api/v1/customers/")
	strOrders       = []byte("/api/v1/orders")
	strEvents       = []byte("/api/v1/events")
	strDownloadDir  = []byte("/api/v1/download/")
	strSlow         = []byte("/slow")
	strStats        = []byte("/admin/stats")
	strJSON         = "application/json"
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	p := ctx.Path()
	s.count(p)
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	switch {
	case bytes.Equal(p, strBench):
		if allow(ctx, false) {
			ctx.SetContentType(strJSON)
			ctx.SetBodyString(BenchBody)
		}
	case bytes.Equal(p, strEcho) || (bytes.HasPrefix(p, strEcho) && p[len(strEcho)] == '/'):
		s.echo(ctx)
	case bytes.Equal(p, strCustomers):
		if allow(ctx, false) {
			ctx.SetContentType(strJSON)
			ctx.SetBody(s.bodies.customers)
		}
	case bytes.HasPrefix(p, strCustomersDir):
		s.customer(ctx, p[len(strCustomersDir):])
	case bytes.Equal(p, strOrders):
		s.order(ctx)
	case bytes.Equal(p, strEvents):
		if allow(ctx, false) {
			s.events(ctx)
		}
	case bytes.HasPrefix(p, strDownloadDir):
		if allow(ctx, false) {
			s.download(ctx, p[len(strDownloadDir):])
		}
	case bytes.Equal(p, strSlow):
		if allow(ctx, false) {
			s.slow(ctx)
		}
	case bytes.Equal(p, strStats):
		if allow(ctx, false) {
			ctx.SetContentType(strJSON)
			ctx.SetBody(mustJSON(s.Stats()))
		}
	default:
		fail(ctx, fasthttp.StatusNotFound, "not_found", "no such endpoint")
	}
}

// allow reports whether the method is GET or HEAD (or DELETE, if del), and
// answers 405 with Allow otherwise (RFC 9110 §15.5.6).
func allow(ctx *fasthttp.RequestCtx, del bool) bool {
	if ctx.IsGet() || ctx.IsHead() || (del && ctx.IsDelete()) {
		return true
	}
	if del {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD, DELETE")
	} else {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD")
	}
	fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	return false
}

// fail answers a JSON error {"error": code, "message": msg}.
func fail(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(strJSON)
	ctx.SetBody(mustJSON(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, msg}))
}

func (s *Server) customer(ctx *fasthttp.RequestCtx, id []byte) {
	if !allow(ctx, true) {
		return
	}
	body, ok := s.bodies.customer[string(id)]
	if !ok {
		fail(ctx, fasthttp.StatusNotFound, "not_found", fmt.Sprintf("customer %q not found", id))
		return
	}
	if ctx.IsDelete() {
		// The data set is fixed: deleting answers as if it had worked.
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	ctx.SetContentType(strJSON)
	ctx.SetBody(body)
}

func (s *Server) order(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	var fields map[string]json.RawMessage
	body := ctx.PostBody()
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		fail(ctx, fasthttp.StatusBadRequest, "invalid_json", "the body must be a JSON object")
		return
	}
	o := Order{
		ID:     fmt.Sprintf("ord_%06d", s.orderSeq.Add(1)),
		Status: "created",
		Fields: fields,
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.Response.Header.Set(fasthttp.HeaderLocation, "/api/v1/orders/"+o.ID)
	ctx.SetContentType(strJSON)
	ctx.SetBody(mustJSON(o))
}

func (s *Server) echo(ctx *fasthttp.RequestCtx) {
	e := Echo{
		Method:     string(ctx.Method()),
		Path:       string(ctx.Path()),
		URI:        string(ctx.RequestURI()),
		Proto:      string(ctx.Request.Header.Protocol()),
		Query:      string(ctx.URI().QueryString()),
		Host:       string(ctx.Host()),
		RemoteAddr: ctx.RemoteAddr().String(),
		Headers:    make(map[string][]string),
		BodyLength: len(ctx.PostBody()),
	}
	for k, v := range ctx.Request.Header.All() {
		e.Headers[string(k)] = append(e.Headers[string(k)], string(v))
	}
	ctx.SetContentType(strJSON)
	ctx.SetBody(mustJSON(e))
}

func (s *Server) slow(ctx *fasthttp.RequestCtx) {
	d := defaultSlow
	if v := ctx.QueryArgs().Peek("delay"); v != nil {
		var err error
		d, err = time.ParseDuration(string(v))
		if err != nil || d < 0 || d > maxSlowDelay {
			fail(ctx, fasthttp.StatusBadRequest, "invalid_delay", "delay must be a duration between 0s and 60s")
			return
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
		fail(ctx, fasthttp.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	ctx.SetContentType(strJSON)
	ctx.SetBody(mustJSON(struct {
		Delay string `json:"delay"`
	}{d.String()}))
}

// events streams Server-Sent Events (HTML Living Standard §9.2): the first
// event at once, then one per interval, each flushed on its own.
func (s *Server) events(ctx *fasthttp.RequestCtx) {
	n, interval := defaultEvents, defaultInterval
	args := ctx.QueryArgs()
	if v := args.Peek("n"); v != nil {
		k, err := strconv.Atoi(string(v))
		if err != nil || k < 1 || k > maxEvents {
			fail(ctx, fasthttp.StatusBadRequest, "invalid_n", "n must be an integer between 1 and 10000")
			return
		}
		n = k
	}
	if v := args.Peek("interval"); v != nil {
		d, err := time.ParseDuration(string(v))
		if err != nil || d < 0 || d > maxInterval {
			fail(ctx, fasthttp.StatusBadRequest, "invalid_interval", "interval must be a duration between 0s and 60s")
			return
		}
		interval = d
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	if ctx.IsHead() {
		return
	}
	done, conn := s.done, ctx.Conn()
	if !s.streamStarted(conn) {
		fail(ctx, fasthttp.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streamEnded(conn)
		t := time.NewTimer(interval)
		defer t.Stop()
		var buf []byte
		for i := 1; i <= n; i++ {
			if i > 1 {
				t.Reset(interval)
				select {
				case <-t.C:
				case <-done:
					return
				}
			}
			buf = AppendEvent(buf[:0], i, n, time.Now())
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	})
}

// AppendEvent appends event seq of n in text/event-stream framing:
// "id: SEQ\nevent: tick\ndata: {"seq":SEQ,"of":N,"time":"RFC3339Nano"}\n\n".
func AppendEvent(dst []byte, seq, n int, now time.Time) []byte {
	dst = append(dst, "id: "...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, "\nevent: tick\ndata: {\"seq\":"...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ",\"of\":"...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ",\"time\":\""...)
	dst = now.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, "\"}\n\n"...)
	return dst
}

func (s *Server) download(ctx *fasthttp.RequestCtx, size []byte) {
	n, err := ParseSize(string(size))
	if err != nil {
		fail(ctx, fasthttp.StatusBadRequest, "invalid_size", err.Error())
		return
	}
	ctx.SetContentType("application/octet-stream")
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(n))
		ctx.Response.SkipBody = true
		return
	}
	conn := ctx.Conn()
	if !s.streamStarted(conn) {
		fail(ctx, fasthttp.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	ctx.SetBodyStream(&patternReader{left: n, done: s.done, end: func() { s.streamEnded(conn) }}, int(n))
}
