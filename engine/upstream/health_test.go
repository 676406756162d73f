package upstream

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPick: a target that failed a connect is left out for FailTimeout
// while another is up, comes back when the time is over or when it is
// reached, and with every target down the one whose turn it is is tried.
func TestPick(t *testing.T) {
	p, err := New(Options{Name: "u", Targets: []string{"a:1", "b:1", "c:1"}, FailTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	later := now + int64(10*time.Second)
	var clock int64
	p.now = func() int64 { return clock }
	for _, tc := range []struct {
		name   string
		do     func()
		at     int64
		from   int
		want   int
		wantUp [3]bool
	}{
		{"all up", func() {}, now, 1, 1, [3]bool{true, true, true}},
		{"b down: its turn goes to c", func() { p.Failed(1) }, now, 1, 2, [3]bool{true, false, true}},
		{"wraps around", func() { p.Failed(2) }, now, 1, 0, [3]bool{true, false, false}},
		{"all down: try the one whose turn it is", func() { p.Failed(0) }, now, 4, 1, [3]bool{false, false, false}},
		{"back after fail_timeout", func() {}, later, 1, 1, [3]bool{true, true, true}},
		{"back once reached", func() { p.Reached(2) }, now, 1, 2, [3]bool{false, false, true}},
	} {
		clock = now
		tc.do()
		clock = tc.at
		if got := p.Pick(tc.from); got != tc.want {
			t.Errorf("%s: Pick(%d) = %d, want %d", tc.name, tc.from, got, tc.want)
		}
		for i, want := range tc.wantUp {
			if p.Up(i, tc.at) != want {
				t.Errorf("%s: target %d up %v, want %v", tc.name, i, !want, want)
			}
		}
	}
	clock = now
	var b bytes.Buffer
	p.WritePrometheus(&b)
	if !strings.Contains(b.String(), `tollgate_upstream_target_up{upstream="u",target="c:1"} 1`) ||
		!strings.Contains(b.String(), `tollgate_upstream_target_up{upstream="u",target="a:1"} 0`) {
		t.Errorf("metrics:\n%s", b.String())
	}

	// Without FailTimeout no target is ever left out.
	q, _ := New(Options{Targets: []string{"a:1", "b:1"}})
	q.Failed(0)
	if !q.Up(0, now) || q.Pick(0) != 0 {
		t.Error("a failure left a target out with FailTimeout 0")
	}
}
