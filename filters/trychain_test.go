package filters_test

import (
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

// probe is a test filter that records the calls it gets. With block set it
// is a Blocker; with try set it is also a Waiter whose TryHandle decides
// when ready is true.
type probe struct {
	name           string
	block, body    bool
	ready          bool
	refuse         bool
	handled, tried int
	finished       int
	log            *[]string
}

func (p *probe) Name() string    { return p.name }
func (p *probe) MayBlock() bool  { return p.block }
func (p *probe) ReadsBody() bool { return p.body }
func (p *probe) Finish(*filters.Exchange) {
	p.finished++
	*p.log = append(*p.log, "finish "+p.name)
}

func (p *probe) verdict() filters.Verdict {
	if p.refuse {
		return filters.Respond(reasonTest)
	}
	return filters.Continue
}

func (p *probe) Handle(*filters.Exchange) filters.Verdict {
	p.handled++
	*p.log = append(*p.log, "handle "+p.name)
	return p.verdict()
}

// waiterProbe adds TryHandle to probe.
type waiterProbe struct{ probe }

func (p *waiterProbe) TryHandle(*filters.Exchange) (filters.Verdict, bool) {
	p.tried++
	if !p.ready {
		*p.log = append(*p.log, "would wait "+p.name)
		return filters.Continue, false
	}
	*p.log = append(*p.log, "try "+p.name)
	return p.verdict(), true
}

func TestChainTryRun(t *testing.T) {
	type want struct {
		done    bool
		resume  int
		refused bool
		log     string // TryRun, then Resume when not done, then Finish
	}
	// Filters are built from a compact spec: n = never waits, w = Waiter
	// ready, W = Waiter that would wait, b = Blocker without TryHandle,
	// B = body reader; a trailing ! refuses.
	build := func(spec string, log *[]string) []filters.Filter {
		var fs []filters.Filter
		for i, tok := range strings.Fields(spec) {
			p := probe{name: string(rune('a' + i)), log: log, refuse: strings.HasSuffix(tok, "!")}
			switch tok[0] {
			case 'w', 'W':
				p.block, p.ready = true, tok[0] == 'w'
				fs = append(fs, &waiterProbe{p})
				continue
			case 'b':
				p.block = true
			case 'B':
				p.body = true
			}
			fs = append(fs, &p)
		}
		return fs
	}
	for _, tc := range []struct {
		name, spec string
		body       bool // run the body part instead of the head
		want       want
	}{
		{"no blocker", "n n", false, want{done: true, resume: 2, log: "handle a|handle b"}},
		{"waiter decides on the loop", "n w n", false, want{done: true, resume: 3, log: "handle a|try b|handle c"}},
		{"waiter would wait: resume there", "n W n", false, want{resume: 1, log: "handle a|would wait b|handle b|handle c"}},
		{"blocker without TryHandle", "n b n", false, want{resume: 1, log: "handle a|handle b|handle c"}},
		{"ready waiter then one that waits", "w W n", false, want{resume: 1, log: "try a|would wait b|handle b|handle c"}},
		{"refusal before the waiter", "n! W", false, want{done: true, resume: 0, refused: true, log: "handle a"}},
		{"waiter refuses on the loop", "n w! n", false, want{done: true, resume: 1, refused: true, log: "handle a|try b"}},
		{"resumed filter refuses", "n W! n", false, want{resume: 1, refused: true, log: "handle a|would wait b|handle b"}},
		{"head stops before the body reader", "n B W", false, want{done: true, resume: 1, log: "handle a"}},
		{"body part resumes at its waiter", "n B W n", true, want{resume: 2, log: "handle b|would wait c|handle c|handle d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			c := filters.NewChain(build(tc.spec, &log)...)
			ex := filtertest.NewExchange("GET", "/x", nil, nil)
			defer filters.ReleaseExchange(ex)
			var v filters.Verdict
			var resume int
			var done bool
			if tc.body {
				v, resume, done = c.TryRunBody(ex)
			} else {
				v, resume, done = c.TryRunHead(ex)
			}
			if done != tc.want.done || resume != tc.want.resume {
				t.Fatalf("done=%v resume=%d, want done=%v resume=%d", done, resume, tc.want.done, tc.want.resume)
			}
			if !done {
				if v.Reason() != nil {
					t.Fatalf("an undecided part returned a refusal")
				}
				if in := c.InHead(resume); in == tc.body {
					t.Fatalf("InHead(%d) = %v for the %s part", resume, in, map[bool]string{false: "head", true: "body"}[tc.body])
				}
				v = c.Resume(ex, resume)
			}
			if refused := v.Reason() != nil; refused != tc.want.refused {
				t.Fatalf("refused=%v, want %v", refused, tc.want.refused)
			}
			got := strings.Join(log, "|")
			if got != tc.want.log {
				t.Fatalf("calls\n got %s\nwant %s", got, tc.want.log)
			}
			if tc.want.refused && ex.FilterIndex() < 0 {
				t.Fatalf("refusal not recorded on the exchange")
			}
		})
	}
}

// TestChainTryRunFinish checks that the Finish hooks run for exactly the filters
// that passed the request on, whether the part decided on the caller's
// goroutine or was resumed.
func TestChainTryRunFinish(t *testing.T) {
	for _, resumeRefuses := range []bool{false, true} {
		var log []string
		a := &probe{name: "a", log: &log}
		b := &waiterProbe{probe{name: "b", block: true, log: &log, refuse: resumeRefuses}}
		c := &probe{name: "c", log: &log}
		ch := filters.NewChain(a, b, c)
		ex := filtertest.NewExchange("GET", "/x", nil, nil)
		_, resume, done := ch.TryRunHead(ex)
		if done || resume != 1 {
			t.Fatalf("done=%v resume=%d", done, resume)
		}
		ch.Resume(ex, resume)
		ch.Finish(ex)
		// A refusing filter took nothing: Finish runs for the filters
		// before it only, as after Run.
		wantA, wantB, wantC := 1, 1, 1
		if resumeRefuses {
			wantB, wantC = 0, 0
		}
		if a.finished != wantA || b.finished != wantB || c.finished != wantC {
			t.Fatalf("refuses=%v: finished a=%d b=%d c=%d", resumeRefuses, a.finished, b.finished, c.finished)
		}
		filters.ReleaseExchange(ex)
	}
}
