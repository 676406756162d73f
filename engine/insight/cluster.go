package insight

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ClusterSource answers the cluster view: what every instance shipping to
// the same database did over a window ending now. The proxy plugs in the
// PostgreSQL implementation (auditlog/pgship); this package stays free of
// any database driver.
type ClusterSource interface {
	// ClusterStats returns the cluster view of the window ending now, a
	// value encoding/json can encode. It must honour ctx's deadline.
	ClusterStats(ctx context.Context, window time.Duration) (any, error)
}

// ErrNoCluster is what a ClusterSource returns while it has no database
// (a reload turned shipping off, or has not turned it on yet):
// /api/cluster then answers 404 cluster.not_configured, as without a
// source, and the dashboard hides its panel.
var ErrNoCluster = errors.New("insight: no cluster view configured")

// Cluster view bounds.
const (
	// clusterTTL is how long an answer (or an error) is served from the
	// cache: however many dashboards refresh, the database sees at most one
	// query per window per clusterTTL.
	clusterTTL = 2 * time.Second
	// clusterTimeout bounds one query, connection included.
	clusterTimeout = 2 * time.Second
	// clusterDefaultWindow is the window when none is asked for.
	clusterDefaultWindow = 15 * time.Minute
	// clusterMinWindow and clusterMaxWindow bound the windows that can be
	// asked for, in whole seconds.
	clusterMinWindow = 10 * time.Second
	clusterMaxWindow = 24 * time.Hour
	// clusterCached caps the windows cached at once.
	clusterCached = 8
)

// clusterView serves /api/cluster from a ClusterSource through a short
// cache.
type clusterView struct {
	// src is nil when no database is configured.
	src ClusterSource
	// now is the clock (tests set it).
	now func() time.Time
	// mu serializes queries, so concurrent refreshes wait for one query
	// instead of each sending their own, and protects cache.
	mu sync.Mutex
	// cache holds the last answer per window.
	cache map[time.Duration]clusterAnswer
}

// clusterAnswer is one cached answer: the encoded view, or the error.
type clusterAnswer struct {
	at   time.Time
	body []byte
	err  string
	none bool // the source has no database (ErrNoCluster)
}

// SetCluster plugs in the cluster view's source; call it before Handler.
// Without it, /api/cluster answers 404 cluster.not_configured and the
// dashboard hides its Cluster panel.
func (s *Stats) SetCluster(src ClusterSource) {
	s.cluster = &clusterView{src: src, now: time.Now, cache: map[time.Duration]clusterAnswer{}}
}

// serveCluster answers GET /api/cluster?window=15m.
func (s *Stats) serveCluster(w http.ResponseWriter, r *http.Request) {
	cv := s.cluster
	if cv == nil || cv.src == nil {
		notConfigured(w)
		return
	}
	window := clusterDefaultWindow
	if v := r.URL.Query().Get("window"); v != "" {
		d, ok := parseWindow(v)
		if !ok {
			writeProblem(w, http.StatusBadRequest, "cluster.bad_window",
				"cannot parse window: want whole seconds, minutes or hours (30s, 15m, 1h) from 10s to 24h", "window="+v)
			return
		}
		window = d
	}
	a := cv.get(window)
	if a.none {
		notConfigured(w)
		return
	}
	if a.err != "" {
		writeProblem(w, http.StatusServiceUnavailable, "cluster.unavailable",
			"the cluster view's database cannot be read; this instance's own statistics are unaffected", a.err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Age", strconv.Itoa(int(cv.now().Sub(a.at)/time.Second)))
	_, _ = w.Write(a.body)
}

func notConfigured(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "cluster.not_configured",
		"no cluster view: audit.ship.postgres is not configured on this instance", "")
}

// get returns the cached answer for window, asking the source when it is
// older than clusterTTL. The query does not inherit the request's context:
// its answer serves every dashboard, so one that gave up must not cancel
// it for the others.
func (cv *clusterView) get(window time.Duration) clusterAnswer {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	now := cv.now()
	if a, ok := cv.cache[window]; ok && now.Sub(a.at) < clusterTTL {
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	a := clusterAnswer{at: now}
	v, err := cv.src.ClusterStats(ctx, window)
	if err == nil {
		a.body, err = json.Marshal(v)
	}
	if err != nil {
		a.body, a.err, a.none = nil, err.Error(), errors.Is(err, ErrNoCluster)
	}
	if len(cv.cache) >= clusterCached {
		clear(cv.cache)
	}
	cv.cache[window] = a
	return a
}

// parseWindow parses "Ns", "Nm" or "Nh" within the cluster view's bounds.
func parseWindow(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 32)
	if err != nil {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	default:
		return 0, false
	}
	if n > uint64(clusterMaxWindow/unit) { // before multiplying, which could wrap
		return 0, false
	}
	d := time.Duration(n) * unit
	if d < clusterMinWindow {
		return 0, false
	}
	return d, true
}

// problem is an RFC 9457 problem body, as the proxy answers refusals.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, reason, title, detail string) {
	b, _ := json.Marshal(problem{Type: "urn:tollgate:problem:" + reason, Title: title, Status: status, Reason: reason, Detail: detail})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
