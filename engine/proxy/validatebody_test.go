package proxy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/engine/internal/e2etest"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// validatedRoutes are two JSON-validated routes: one that takes identity
// bodies only, one that decodes gzip.
const validatedRoutes = `  - name: json-plain
    methods: [POST]
    path: /echo/plain
    upstream: demo
    max_body_bytes: 64KiB
    filters: [{name: jsonvalidate, config: {schema: {type: object}, max_bytes: 16KiB}}]
  - name: json-gzip
    methods: [POST]
    path: /echo/gzip
    upstream: demo
    max_body_bytes: 64KiB
    filters: [{name: jsonvalidate, config: {schema: {type: object}, max_bytes: 16KiB, decode: [gzip]}}]
`

// TestValidatedBodiesAttacks sends a validated route what a lenient
// filter would let through, on both engines: a gzip bomb (16 MiB of JSON
// in 16 KiB) to a route that decodes gzip, gzip to one that does not, and
// media types that only look like JSON. Each is refused with its status
// and reason, and the upstream gets nothing; a well-formed gzip body goes
// upstream exactly as sent.
func TestValidatedBodiesAttacks(t *testing.T) {
	onBothEngines(t, func(t *testing.T, quick func(t *testing.T, up *e2etest.Upstream, listenerExtra, routesExtra string) *testProxy) {
		up := e2etest.StartUpstream(t)
		p := quick(t, up, "", validatedRoutes)
		good := []byte(`{"sku":"tea","qty":2}`)
		bomb := filtertest.Gzip(t, append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("a"), 16<<20)...), `"}`...))
		if len(bomb) > 32<<10 {
			t.Fatalf("the bomb is %d bytes; it must fit the route's body limit", len(bomb))
		}
		post := func(path string, body []byte, fields ...string) string {
			return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + strings.Join(fields, "") +
				"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
		}
		const ctJSON = "Content-Type: application/json\r\n"
		cases := []struct {
			name, raw string
			status    int
			reason    string
		}{
			{"gzip bomb", post("/echo/gzip", bomb, ctJSON, "Content-Encoding: gzip\r\n"), 413, "validate.body_too_large"},
			{"gzip without opt-in", post("/echo/plain", filtertest.Gzip(t, good), ctJSON, "Content-Encoding: gzip\r\n"), 415, "validate.unsupported_encoding"},
			{"two codings", post("/echo/gzip", filtertest.Gzip(t, good), ctJSON, "Content-Encoding: gzip\r\nContent-Encoding: identity\r\n"), 415, "validate.unsupported_encoding"},
			{"not gzip", post("/echo/gzip", good, ctJSON, "Content-Encoding: gzip\r\n"), 400, "validate.json_malformed"},
			{"text/json", post("/echo/plain", good, "Content-Type: text/json;\r\n"), 415, "validate.unsupported_media_type"},
			{"application/jsonx", post("/echo/plain", good, "Content-Type: application/jsonx\r\n"), 415, "validate.unsupported_media_type"},
			{"latin-1", post("/echo/plain", good, "Content-Type: application/json; charset=iso-8859-1\r\n"), 415, "validate.unsupported_media_type"},
			{"two Content-Types", post("/echo/plain", good, ctJSON, "Content-Type: text/plain\r\n"), 415, "validate.unsupported_media_type"},
			{"a list of types", post("/echo/plain", good, "Content-Type: application/json, text/plain\r\n"), 415, "validate.unsupported_media_type"},
		}
		before := up.Requests()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, text := e2etest.RawRequest(t, p.addr, c.raw)
				if status != c.status || !strings.Contains(text, "application/problem+json") || !strings.Contains(text, `"reason":"`+c.reason+`"`) {
					t.Fatalf("status %d, want %d %s\n%s", status, c.status, c.reason, text)
				}
			})
		}
		if n := up.Requests() - before; n != 0 {
			t.Fatalf("the upstream got %d refused requests", n)
		}

		// Allowed: the upstream gets the compressed bytes and the coding.
		body := filtertest.Gzip(t, good)
		status, text := e2etest.RawRequest(t, p.addr, post("/echo/gzip", body, ctJSON, "Content-Encoding: gzip\r\n"))
		if status != 200 {
			t.Fatalf("gzip body: %d\n%s", status, text)
		}
		var echoed struct {
			Headers    map[string][]string `json:"headers"`
			BodyLength int                 `json:"body_length"`
		}
		if err := json.Unmarshal([]byte(text[strings.IndexByte(text, '{'):]), &echoed); err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		if got := fmt.Sprint(echoed.Headers["Content-Encoding"]); echoed.BodyLength != len(body) || got != "[gzip]" {
			t.Fatalf("upstream got %d bytes with Content-Encoding %s, want the %d sent with [gzip]", echoed.BodyLength, got, len(body))
		}
	})
}
