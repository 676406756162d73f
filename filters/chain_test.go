package filters_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tollgate-proxy/tollgate/filters"
	"github.com/tollgate-proxy/tollgate/filters/filtertest"
)

type noop struct{ calls int }

func (n *noop) Name() string                             { return "noop" }
func (n *noop) Handle(*filters.Exchange) filters.Verdict { n.calls++; return filters.Continue }

type deny struct{ r *filters.Reason }

func (d deny) Name() string                             { return "deny" }
func (d deny) Handle(*filters.Exchange) filters.Verdict { return filters.Respond(d.r) }

type closer struct {
	noop
	closed bool
	err    error
}

func (c *closer) Close() error                     { c.closed = true; return c.err }
func (c *closer) HandleResponse(*filters.Exchange) {}

var reasonTest = filters.NewReason("test.denied", 403, filters.DecisionDenied, "denied \"for\" test")

func TestChainFirstRefusalWins(t *testing.T) {
	a, b := &noop{}, &noop{}
	c := filters.NewChain(a, deny{reasonTest}, b)
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	v := c.Run(ex)
	if v.IsContinue() || v.Reason() != reasonTest {
		t.Fatalf("verdict = %+v, want refusal", v)
	}
	if a.calls != 1 || b.calls != 0 {
		t.Fatalf("calls a=%d b=%d, want 1 and 0", a.calls, b.calls)
	}
	if ex.FilterIndex() != 1 || ex.Decision() != filters.DecisionDenied {
		t.Fatalf("filter index %d decision %v", ex.FilterIndex(), ex.Decision())
	}
}

func TestChainAllContinue(t *testing.T) {
	a := &noop{}
	c := filters.NewChain(a, a)
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	if v := c.Run(ex); !v.IsContinue() {
		t.Fatalf("verdict %+v", v)
	}
	if a.calls != 2 || ex.Decision() != filters.DecisionAllowed || ex.FilterIndex() != -1 {
		t.Fatalf("calls=%d decision=%v index=%d", a.calls, ex.Decision(), ex.FilterIndex())
	}
}

func TestChainClose(t *testing.T) {
	c1, c2 := &closer{}, &closer{err: errors.New("boom")}
	c := filters.NewChain(c1, &noop{}, c2)
	if err := c.Close(); err == nil || !c1.closed || !c2.closed {
		t.Fatalf("close err=%v closed=%v,%v", err, c1.closed, c2.closed)
	}
}

func TestProblemBody(t *testing.T) {
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	ex.Refuse(reasonTest)
	ex.AppendDetailString("bad \x00 byte \xff and \"quotes\"")
	ex.RequestID = append(ex.RequestID, "rid-1"...)
	body := ex.AppendProblem(nil)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("problem body is not JSON: %v\n%s", err, body)
	}
	want := map[string]any{
		"type": "urn:tollgate:problem:test.denied", "title": `denied "for" test`, "status": float64(403),
		"reason": "test.denied", "request_id": "rid-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if d, _ := got["detail"].(string); !bytes.Contains([]byte(d), []byte(`"quotes"`)) {
		t.Errorf("detail = %q", d)
	}
}

func TestProblemDetailIsBounded(t *testing.T) {
	big := bytes.Repeat([]byte("A"), 10000)
	body := reasonTest.AppendProblem(nil, big, nil)
	if len(body) > 600 {
		t.Fatalf("problem body is %d bytes; large input must not be echoed", len(body))
	}
}

func TestExchangeReset(t *testing.T) {
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	ex.Identity.Subject = append(ex.Identity.Subject, "alice"...)
	ex.Params.Add("id", []byte("1"))
	ex.AddResponseHeader("X-A", []byte("1"))
	ex.Refuse(reasonTest)
	ex.Reset()
	if len(ex.Identity.Subject) != 0 || ex.Params.Len() != 0 || ex.ResponseHeaderCount() != 0 ||
		ex.Reason() != nil || ex.FilterIndex() != -1 || ex.Method != nil || ex.ContentLength != -1 {
		t.Fatalf("reset left state behind: %+v", ex)
	}
	filters.ReleaseExchange(ex)
}

func TestDecisionNames(t *testing.T) {
	for d := filters.DecisionAllowed; d <= filters.DecisionFailed; d++ {
		got, ok := filters.ParseDecision(d.String())
		if !ok || got != d {
			t.Fatalf("round trip of %v failed", d)
		}
	}
}

type finisher struct {
	noop
	finished int
}

func (f *finisher) Finish(*filters.Exchange) { f.finished++ }

type denyFinisher struct{ finisher }

func (d *denyFinisher) Handle(*filters.Exchange) filters.Verdict { return filters.Respond(reasonTest) }

func TestChainFinishRunsForFiltersThatPassed(t *testing.T) {
	before, after := &finisher{}, &finisher{}
	refuser := &denyFinisher{}
	c := filters.NewChain(before, refuser, after)
	ex := filtertest.NewExchange("GET", "/x", nil, nil)
	defer filters.ReleaseExchange(ex)
	c.Run(ex)
	c.Finish(ex)
	c.Finish(ex) // a second call must not finish twice
	if before.finished != 1 || refuser.finished != 0 || after.finished != 0 {
		t.Fatalf("finished before=%d refuser=%d after=%d, want 1, 0 and 0", before.finished, refuser.finished, after.finished)
	}
	allowed := filters.NewChain(before, after)
	allowed.Run(ex)
	allowed.Finish(ex)
	if before.finished != 2 || after.finished != 1 {
		t.Fatalf("finished before=%d after=%d, want 2 and 1", before.finished, after.finished)
	}
}
