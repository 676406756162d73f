package pipeline_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/pipeline"
	"github.com/tollgate-proxy/tollgate/filters"
)

// stall is a filter that may wait and, as a Waiter, always would; with
// panicTry set its TryHandle panics, with panicHandle its Handle does.
type stall struct{ panicTry, panicHandle bool }

func (s *stall) Name() string   { return "stall" }
func (s *stall) MayBlock() bool { return true }
func (s *stall) Handle(*filters.Exchange) filters.Verdict {
	if s.panicHandle {
		panic("stall: handle")
	}
	return filters.Continue
}

func (s *stall) TryHandle(*filters.Exchange) (filters.Verdict, bool) {
	if s.panicTry {
		panic("stall: try")
	}
	return filters.Continue, false
}

// TestTryFilterHead runs a route whose only filter would wait through
// TryFilterHead and ResumeFilters, and wants them to decide as FilterHead
// does: the body limit applies once the resumed head part allowed the
// request, and a panic on either side is a 500 refusal, not a crash.
func TestTryFilterHead(t *testing.T) {
	for _, tc := range []struct {
		name       string
		filter     stall
		head       string
		undecided  bool
		allowed    bool
		wantReason *filters.Reason
	}{
		{"resumed and allowed", stall{}, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", true, true, nil},
		{"resumed, body over the limit", stall{}, "POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", true, false, filters.ReasonBodyTooLarge},
		{"TryHandle panics", stall{panicTry: true}, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", false, false, filters.ReasonInternal},
		{"resumed Handle panics", stall{panicHandle: true}, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", true, false, filters.ReasonInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			reg := filters.Registry{{Name: "stall", New: func(filters.Spec) (filters.Filter, error) { return &f, nil }}}
			path := filepath.Join(t.TempDir(), "c.yaml")
			cfg := "listeners: [{name: public, listen: 127.0.0.1:0}]\nupstreams: [{name: demo, targets: [127.0.0.1:9]}]\n" +
				"routes:\n  - {name: w, methods: [GET, POST], path: /w, upstream: demo, filters: [{name: stall}]}\n"
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			rt, err := engine.Compile(c, reg, 1, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := &engine.Holder{}
			h.Swap(rt)
			t.Cleanup(h.Close)
			p, err := pipeline.New(pipeline.Options{Holder: h})
			if err != nil {
				t.Fatal(err)
			}
			g := &rig{p: p, l: pipeline.Listener{Name: "public", MaxBodyBytes: 1 << 20}}
			var src bytes.Reader
			parse(t, []byte(tc.head), &g.req, bufio.NewReader(&src), &src)
			if !p.Begin(&g.r, &g.l, &g.req, peer, time.Now()) {
				t.Fatalf("Begin refused: %v", g.r.Ex.Reason())
			}
			allowed, resume, done := p.TryFilterHead(&g.r)
			if done == tc.undecided {
				t.Fatalf("done = %v, want %v", done, !tc.undecided)
			}
			if !done {
				if resume != 0 {
					t.Fatalf("resume = %d, want 0", resume)
				}
				allowed = p.ResumeFilters(&g.r, resume)
			}
			if allowed != tc.allowed || g.r.Ex.Reason() != tc.wantReason {
				t.Fatalf("allowed %v reason %v, want %v %v", allowed, g.r.Ex.Reason(), tc.allowed, tc.wantReason)
			}
			p.End(&g.r, time.Now(), nil)
			p.Leave(&g.r)
		})
	}
}
