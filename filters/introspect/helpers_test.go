package introspect

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// testStart is the fake clock's starting point.
var testStart = time.Unix(1_800_000_000, 0)

// clock is a settable time source for the filter.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(testStart.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) unix() int64             { return c.ns.Load() / int64(time.Second) }

const (
	testClientID     = "tollgate proxy:1" // characters RFC 6749 §2.3.1 form-encodes
	testClientSecret = "s3cr%t&=x"
)

// Server modes.
const (
	modeOK = iota
	modeFail500
	modeHang     // wait until the client gives up
	modeRedirect // 302 elsewhere
	modeRaw      // answer rawBody for every token
)

// idp is a local RFC 7662 introspection endpoint over TLS on 127.0.0.1.
type idp struct {
	srv    *httptest.Server
	url    string
	caFile string

	hits atomic.Int64
	mode atomic.Int32

	mu      sync.Mutex
	answers map[string]string // token → response JSON
	prefix  map[string]string // token prefix → response JSON
	rawBody string
	gate    chan struct{} // when set, answers wait for it to close
	seen    []seenCall
}

// seenCall is what one introspection request carried.
type seenCall struct {
	method, contentType, authorization string
	form                               url.Values
}

func newIDP(t testing.TB) *idp {
	t.Helper()
	p := &idp{answers: map[string]string{}, prefix: map[string]string{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.url = p.srv.URL + "/oauth2/introspect"
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	p.caFile = writeFile(t, t.TempDir(), "ca.pem", pemBytes)
	return p
}

func (p *idp) serve(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	r.ParseForm()
	p.mu.Lock()
	p.seen = append(p.seen, seenCall{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.PostForm})
	gate := p.gate
	answer, known := p.answers[r.PostForm.Get("token")]
	if !known {
		for pre, a := range p.prefix {
			if strings.HasPrefix(r.PostForm.Get("token"), pre) {
				answer, known = a, true
			}
		}
	}
	raw := p.rawBody
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	switch p.mode.Load() {
	case modeFail500:
		http.Error(w, "down", http.StatusInternalServerError)
		return
	case modeHang:
		<-r.Context().Done()
		return
	case modeRedirect:
		http.Redirect(w, r, "https://127.0.0.1:1/elsewhere", http.StatusFound)
		return
	case modeRaw:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, raw)
		return
	}
	if !p.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspect"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if !known {
		answer = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, answer)
}

// authorized checks HTTP Basic client authentication with the id and
// secret form-decoded (RFC 6749 §2.3.1).
func (p *idp) authorized(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && id == testClientID && secret == testClientSecret
}

func (p *idp) set(token, answer string) {
	p.mu.Lock()
	p.answers[token] = answer
	p.mu.Unlock()
}

func (p *idp) setPrefix(prefix, answer string) {
	p.mu.Lock()
	p.prefix[prefix] = answer
	p.mu.Unlock()
}

func (p *idp) setRaw(body string) {
	p.mu.Lock()
	p.rawBody = body
	p.mu.Unlock()
	p.mode.Store(modeRaw)
}

func (p *idp) calls() []seenCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seenCall(nil), p.seen...)
}

// active renders an active response for sub, expiring at exp, with extra
// members (raw JSON, without braces).
func active(sub string, exp int64, extra string) string {
	s := `{"active":true,"sub":"` + sub + `","client_id":"web","token_type":"Bearer","exp":` + strconv.FormatInt(exp, 10)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// testSpec returns a spec whose Decode strictly decodes src, sharing roles.
func testSpec(src string, roles *filters.Roles) filters.Spec {
	return filtertest.Spec("introspect", "test", src, roles)
}

// testRoles returns a role table with the usual names.
func testRoles() *filters.Roles {
	r := filters.NewRoles()
	for _, n := range []string{"viewer", "editor", "admin", "billing:read"} {
		if _, err := r.Intern(n); err != nil {
			panic(err)
		}
	}
	return r
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// baseYAML is the config of a filter talking to p.
func baseYAML(p *idp) string {
	return "endpoint: " + p.url + "\n" +
		"client_id: " + strconv.Quote(testClientID) + "\n" +
		"client_secret: " + strconv.Quote(testClientSecret) + "\n" +
		"ca_file: " + p.caFile + "\n"
}

// newTestFilter builds a filter against p with extra top-level YAML and the
// clock c (nil: a fresh fake clock).
func newTestFilter(t testing.TB, p *idp, extra string, c *clock) *Filter {
	t.Helper()
	if c == nil {
		c = newClock()
	}
	y := baseYAML(p) + extra
	f, err := newFilter(testSpec(y, testRoles()), options{now: c.now})
	if err != nil {
		t.Fatalf("newFilter: %v\n%s", err, y)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// exchange returns a fresh exchange carrying the given headers.
func exchange(h *filtertest.StaticHeaders) *filters.Exchange {
	ex := filters.AcquireExchange()
	ex.Method = []byte("GET")
	ex.Path = []byte("/api/x")
	ex.SetHeaders(h)
	return ex
}

// run handles one request with an Authorization header (if auth != "")
// and returns the verdict's reason code ("" when allowed), the exchange
// and its headers. The exchange is released at cleanup.
func run(t testing.TB, f *Filter, auth string, extra ...string) (string, *filters.Exchange, *filtertest.StaticHeaders) {
	t.Helper()
	h := filtertest.NewStaticHeaders(extra...)
	if auth != "" {
		h.Set("Authorization", []byte(auth))
	}
	ex := exchange(h)
	t.Cleanup(func() { filters.ReleaseExchange(ex) })
	v := f.Handle(ex)
	if v.IsContinue() {
		return "", ex, h
	}
	return v.Reason().Code, ex, h
}

func respHeader(ex *filters.Exchange, name string) string {
	for i := 0; i < ex.ResponseHeaderCount(); i++ {
		if k, v := ex.ResponseHeader(i); k == name {
			return string(v)
		}
	}
	return ""
}

// fp is the expected KeyID of token.
func fp(token string) string { return string(fingerprint(nil, []byte(token))) }

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }
