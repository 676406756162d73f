package insight

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

const (
	feedRing      = 4096 // access events kept for the live feed
	feedTick      = 250 * time.Millisecond
	maxSSEClients = 8
	keepAlive     = 15 * time.Second
)

// feed is the ring of recent access events the SSE streams read. The
// aggregator writes every record it folds; each stream reads, every tick,
// the events written since its last tick.
type feed struct {
	mu   sync.Mutex
	ring [feedRing]record
	next uint64 // sequence number of the next event
}

func (f *feed) push(r *record) {
	f.ring[f.next%feedRing] = *r
	f.next++
}

// Event is one access event of the live feed.
type Event struct {
	// Time is when the request completed.
	Time time.Time `json:"time"`
	// Principal is the principal, empty when anonymous.
	Principal string `json:"principal"`
	// Unverified marks a principal taken from a refused credential.
	Unverified bool `json:"unverified,omitempty"`
	// ClientIP is the client address.
	ClientIP string `json:"client_ip"`
	// Method is the request method.
	Method string `json:"method"`
	// Route is the matched route template, or "(none)" when no route matched.
	Route string `json:"route"`
	// Path is the request path when no route matched.
	Path string `json:"path,omitempty"`
	// Status is the HTTP status answered.
	Status uint16 `json:"status"`
	// Decision is the outcome class (allowed, denied, limited, …).
	Decision string `json:"decision"`
	// Reason is the stable reason code, empty when allowed.
	Reason string `json:"reason,omitempty"`
	// LatencyMs is the request's duration in milliseconds.
	LatencyMs float64 `json:"latency_ms"`
}

func eventOf(r *record) Event {
	ev := Event{
		Time: time.Unix(0, r.end).UTC(), Principal: string(r.principalBytes()), Unverified: r.unverified,
		Method: string(r.method[:r.mlen]), Status: r.status, Decision: r.decision.String(),
		Reason: string(r.reason[:r.rslen]), LatencyMs: float64(r.dur) / 1e6,
	}
	if r.ip.IsValid() {
		ev.ClientIP = r.ip.String()
	}
	if r.routeIsPath {
		ev.Route, ev.Path = string(noneRoute), string(r.routeBytes())
	} else {
		ev.Route = string(r.routeBytes())
	}
	return ev
}

// feedFilter selects feed events; zero fields match everything.
type feedFilter struct {
	principal []byte
	route     []byte
	status    uint16 // exact status, or 0
	class     int    // status class + 1, or 0
	decision  int    // decision + 1, or 0
}

func parseFilter(q map[string][]string) (feedFilter, error) {
	var f feedFilter
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	if v := get("principal"); v != "" {
		f.principal = []byte(v)
	}
	if v := get("route"); v != "" {
		f.route = []byte(v)
	}
	if v := get("status"); v != "" {
		if err := f.parseStatus(v); err != nil {
			return f, err
		}
	}
	if v := get("decision"); v != "" {
		d, ok := auditlog.ParseDecision(v)
		if !ok {
			return f, errBadFilter("decision", v)
		}
		f.decision = int(d) + 1
	}
	return f, nil
}

// parseStatus accepts an exact status ("403") or a class ("4xx").
func (f *feedFilter) parseStatus(v string) error {
	if len(v) == 3 && (v[1] == 'x' || v[1] == 'X') && (v[2] == 'x' || v[2] == 'X') && v[0] >= '1' && v[0] <= '5' {
		f.class = int(v[0]-'1') + 1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 999 {
		return errBadFilter("status", v)
	}
	f.status = uint16(n)
	return nil
}

type filterError struct{ key, val string }

func (e filterError) Error() string {
	return "cannot parse filter " + e.key + ": invalid value " + strconv.Quote(e.val)
}

func errBadFilter(k, v string) error { return filterError{k, v} }

func (f *feedFilter) match(r *record) bool {
	if f.principal != nil && !bytes.Equal(f.principal, r.principalBytes()) {
		return false
	}
	if f.route != nil {
		rt := r.routeBytes()
		if r.routeIsPath {
			rt = noneRoute
		}
		if !bytes.Equal(f.route, rt) {
			return false
		}
	}
	if f.status != 0 && f.status != r.status {
		return false
	}
	if f.class != 0 && classOf(r.status) != f.class-1 {
		return false
	}
	if f.decision != 0 && int(r.decision) != f.decision-1 {
		return false
	}
	return true
}

// collect copies into dst the newest matching events after seq *from (at
// most cap(dst)), advances *from, and returns the events and how many were
// skipped: matching events over the cap plus events overwritten before this
// read, matching or not.
func (f *feed) collect(dst []record, from *uint64, flt *feedFilter) ([]record, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst = dst[:0]
	var skipped uint64
	start := *from
	if f.next > feedRing && start < f.next-feedRing {
		skipped += f.next - feedRing - start
		start = f.next - feedRing
	}
	// Walk newest first so the cap keeps the most recent events.
	for seq := f.next; seq > start; seq-- {
		r := &f.ring[(seq-1)%feedRing]
		if !flt.match(r) {
			continue
		}
		if len(dst) == cap(dst) {
			skipped++
			continue
		}
		dst = append(dst, *r)
	}
	*from = f.next
	// Oldest first on the wire.
	for i, j := 0, len(dst)-1; i < j; i, j = i+1, j-1 {
		dst[i], dst[j] = dst[j], dst[i]
	}
	return dst, skipped
}

// serveEvents streams access events, skip counts and findings as
// Server-Sent Events (WHATWG HTML §9.2).
func (s *Stats) serveEvents(w http.ResponseWriter, req *http.Request) {
	flt, err := parseFilter(req.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case s.sseCount <- struct{}{}:
		defer func() { <-s.sseCount }()
	default:
		http.Error(w, "too many live feed clients", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.SetWriteDeadline(time.Time{})

	s.feed.mu.Lock()
	from := s.feed.next
	s.feed.mu.Unlock()
	s.mu.Lock()
	lastFinding := s.found.next - 1
	s.mu.Unlock()

	var buf bytes.Buffer
	buf.WriteString("retry: 2000\n\n")
	events := make([]record, 0, s.cfg.FeedEventsPerTick)
	t := time.NewTicker(feedTick)
	defer t.Stop()
	idle := time.Now()
	for {
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			buf.Reset()
			idle = time.Now()
		}
		select {
		case <-req.Context().Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		var skipped uint64
		events, skipped = s.feed.collect(events, &from, &flt)
		for i := range events {
			writeEvent(&buf, "access", eventOf(&events[i]))
		}
		if skipped > 0 {
			writeEvent(&buf, "skipped", map[string]uint64{"skipped": skipped})
		}
		s.mu.Lock()
		fs := s.found.since(lastFinding, 64)
		s.mu.Unlock()
		for _, f := range fs {
			writeEvent(&buf, "finding", f)
			lastFinding = f.ID
		}
		if buf.Len() == 0 && time.Since(idle) > keepAlive {
			buf.WriteString(": keep-alive\n\n")
		}
	}
}

func writeEvent(buf *bytes.Buffer, name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteString("\ndata: ")
	buf.Write(b)
	buf.WriteString("\n\n")
}
