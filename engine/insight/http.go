package insight

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

//go:embed web
var webFS embed.FS

// Handler returns the dashboard and its JSON API:
//
//	GET /, /dashboard   the dashboard page
//	GET /assets/…       its script and style sheet
//	GET /api/stats      totals, top lists and per-second series (JSON)
//	GET /api/findings   recent detector findings (JSON)
//	GET /api/events     the live feed (Server-Sent Events)
//	GET /api/cluster    every instance's shipped records (JSON; see SetCluster)
//
// It is meant for the admin listener, behind its authentication.
func (s *Stats) Handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(webFS, "web") // cannot fail: web is embedded
	page, _ := fs.ReadFile(sub, "index.html")
	servePage := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(page)
	}
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /dashboard", servePage)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /api/stats", s.serveStats)
	mux.HandleFunc("GET /api/findings", s.serveFindings)
	mux.HandleFunc("GET /api/events", s.serveEvents)
	mux.HandleFunc("GET /api/cluster", s.serveCluster)
	return mux
}

// Snapshot is the answer of /api/stats.
type Snapshot struct {
	// Now is the time the snapshot was taken.
	Now time.Time `json:"now"`
	// Window is the window of Totals and Top, such as "1m".
	Window string `json:"window"`
	// Windows lists the windows that can be asked for.
	Windows []string `json:"windows"`
	// Totals aggregates every request of the window.
	Totals Totals `json:"totals"`
	// Top holds the top lists: "endpoints", "principals" and "ips".
	Top map[string][]Top `json:"top"`
	// Series holds per-second counts for the last seconds.
	Series Series `json:"series"`
	// Findings counts the findings raised so far, by detector, and gives the last ID.
	Findings FindingCounts `json:"findings"`
	// Observed counts the requests folded into the statistics since start.
	Observed uint64 `json:"observed"`
	// Late counts requests that completed too long ago to be counted.
	Late uint64 `json:"late"`
}

// Totals aggregates the requests of one window.
type Totals struct {
	// Requests counts requests.
	Requests uint64 `json:"requests"`
	// RPS is Requests divided by the window's length in seconds.
	RPS float64 `json:"rps"`
	// Errors counts requests answered with status ≥ 400 or not allowed.
	Errors uint64 `json:"errors"`
	// Failures counts 5xx answers and upstream or proxy failures.
	Failures uint64 `json:"failures"`
	// ErrorRate and FailureRate are Errors and Failures over Requests.
	ErrorRate   float64 `json:"error_rate"`
	FailureRate float64 `json:"failure_rate"`
	// Classes counts requests by status class: 1xx … 5xx and other.
	Classes map[string]uint64 `json:"classes"`
	// P50Ms, P90Ms and P99Ms are latency percentiles in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// Series holds per-second counts; element i is for Unix second Start+i.
type Series struct {
	// Start is the Unix second of the first element.
	Start int64 `json:"start"`
	// Requests, Errors and Failures count requests per second.
	Requests []uint32 `json:"requests"`
	Errors   []uint32 `json:"errors"`
	Failures []uint32 `json:"failures"`
	// Classes counts requests per second by status class.
	Classes map[string][]uint32 `json:"classes"`
}

// FindingCounts summarizes the findings raised since start.
type FindingCounts struct {
	// LastID is the ID of the newest finding, 0 when none.
	LastID uint64 `json:"last_id"`
	// ByDetector counts findings by detector name.
	ByDetector map[string]uint64 `json:"by_detector"`
}

// windowName formats d the way windows are named in the API: "1m", "15m", "1h".
func windowName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// Stats returns a snapshot for the window named window ("" for the first),
// with seriesLen seconds of per-second series. It reports false when no
// window has that name.
func (s *Stats) Stats(window string, seconds int) (Snapshot, bool) {
	now := s.now()
	wi := -1
	names := make([]string, len(s.windows))
	for i := range s.windows {
		names[i] = windowName(s.windows[i].length)
		if names[i] == window || (window == "" && i == 0) {
			wi = i
		}
	}
	if wi < 0 {
		return Snapshot{}, false
	}
	seconds = min(max(seconds, 1), seriesLen)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &s.windows[wi]
	snap := Snapshot{Now: now.UTC(), Window: names[wi], Windows: names, Observed: s.folded, Late: s.series.late,
		Top: map[string][]Top{}}
	for d := range numDims {
		snap.Top[dimNames[d]] = w.top(d, now.UnixNano(), s.cfg.TopK)
	}
	nowSec := floorDiv(now.UnixNano(), 1e9)
	var lat hist
	t := &snap.Totals
	t.Classes = map[string]uint64{}
	var classes [numClasses]uint64
	winSecs := int64(w.length / time.Second)
	for sec := nowSec - winSecs + 1; sec <= nowSec; sec++ {
		b := s.series.get(sec)
		if b == nil {
			continue
		}
		t.Requests += uint64(b.total)
		t.Errors += uint64(b.errors)
		t.Failures += uint64(b.failures)
		for c := range classes {
			classes[c] += uint64(b.classes[c])
		}
		lat.add(&b.lat)
	}
	for c, n := range classes {
		t.Classes[classNames[c]] = n
	}
	t.RPS = float64(t.Requests) / float64(winSecs)
	if t.Requests > 0 {
		t.ErrorRate = float64(t.Errors) / float64(t.Requests)
		t.FailureRate = float64(t.Failures) / float64(t.Requests)
	}
	t.P50Ms, t.P90Ms, t.P99Ms = lat.quantile(0.5), lat.quantile(0.9), lat.quantile(0.99)

	sr := &snap.Series
	sr.Start = nowSec - int64(seconds) + 1
	sr.Requests = make([]uint32, seconds)
	sr.Errors = make([]uint32, seconds)
	sr.Failures = make([]uint32, seconds)
	sr.Classes = map[string][]uint32{}
	var cs [numClasses][]uint32
	for c := range cs {
		cs[c] = make([]uint32, seconds)
		sr.Classes[classNames[c]] = cs[c]
	}
	for i := range seconds {
		b := s.series.get(sr.Start + int64(i))
		if b == nil {
			continue
		}
		sr.Requests[i], sr.Errors[i], sr.Failures[i] = b.total, b.errors, b.failures
		for c := range cs {
			cs[c][i] = b.classes[c]
		}
	}
	snap.Findings.LastID = s.found.next - 1
	snap.Findings.ByDetector = map[string]uint64{}
	for i, c := range s.found.count {
		snap.Findings.ByDetector[detectorNames[i]] = c.Get()
	}
	return snap, true
}

// Findings returns up to max findings newer than ID after, oldest first.
func (s *Stats) Findings(after uint64, max int) []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.found.since(after, max)
}

func (s *Stats) serveStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	seconds := 300
	if v := q.Get("series"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > seriesLen {
			http.Error(w, "cannot parse series: want 1..3600 seconds", http.StatusBadRequest)
			return
		}
		seconds = n
	}
	snap, ok := s.Stats(q.Get("window"), seconds)
	if !ok {
		http.Error(w, "cannot find window "+strconv.Quote(q.Get("window")), http.StatusBadRequest)
		return
	}
	writeJSON(w, snap)
}

func (s *Stats) serveFindings(w http.ResponseWriter, r *http.Request) {
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			http.Error(w, "cannot parse after: want a finding ID", http.StatusBadRequest)
			return
		}
		after = n
	}
	writeJSON(w, map[string]any{"findings": s.Findings(after, s.cfg.MaxFindings)})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
