package insight

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

const (
	queueSize     = 1 << 14
	drainInterval = 10 * time.Millisecond
)

var noneRoute = []byte("(none)")

// Stats holds the live statistics, the detectors and the live feed. Observe
// is safe for concurrent use and never blocks; everything else runs on one
// aggregator goroutine started by New and stopped by Close.
type Stats struct {
	cfg  Config
	seed maphash.Seed
	now  func() time.Time
	q    *queue

	dropped  *metrics.Counter
	observed *metrics.Counter

	mu       sync.Mutex // guards the aggregates below; held by the aggregator and by readers
	series   series
	windows  []window
	det      *detectors
	found    findings
	folded   uint64
	scratch  [nameCap]byte
	ipName   [nameCap]byte
	feed     feed
	sseCount chan struct{}

	cluster *clusterView // nil until SetCluster; read-only once Handler runs

	done   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
}

// New builds the statistics with cfg (after defaults; call Config.Validate
// first to report bad settings) and registers its metrics in set, which may
// be nil. It starts the aggregator goroutine; call Close to stop it.
func New(cfg Config, set *metrics.Set) *Stats {
	s := newStats(cfg, set, time.Now)
	s.wg.Add(1)
	go s.run()
	return s
}

// newStats builds the statistics without starting the aggregator, for
// tests that drive step with their own clock.
func newStats(cfg Config, set *metrics.Set, now func() time.Time) *Stats {
	cfg = cfg.withDefaults()
	if set == nil {
		set = metrics.NewSet()
	}
	s := &Stats{cfg: cfg, seed: maphash.MakeSeed(), now: now, q: newQueue(queueSize),
		done: make(chan struct{}), sseCount: make(chan struct{}, maxSSEClients)}
	for _, w := range cfg.Windows {
		s.windows = append(s.windows, newWindow(w.D(), cfg.Capacity))
	}
	s.det = newDetectors(cfg, now().UnixNano(), func(r string) uint64 { return s.hash([]byte(r)) })
	s.found.ring = make([]Finding, cfg.MaxFindings)
	s.found.next = 1
	for i, n := range detectorNames {
		s.found.count[i] = set.NewCounter(`tollgate_insight_findings_total{detector="` + n + `"}`)
	}
	s.dropped = set.NewCounter(`tollgate_insight_dropped_total`)
	s.observed = set.NewCounter(`tollgate_insight_observed_total`)
	set.NewGauge(`tollgate_insight_queue_length`, func() float64 {
		t := s.q.tail.Load()
		return float64(s.q.head.Load() - t)
	})
	return s
}

func (s *Stats) hash(b []byte) uint64 {
	h := maphash.Bytes(s.seed, b)
	if h == 0 {
		h = 1
	}
	return h
}

// Observe records one finished request. It copies what it keeps, so e may
// be reused as soon as it returns. It is safe for concurrent use, never
// blocks and does not allocate; when the aggregator has fallen a whole
// queue behind, the record is dropped and counted in
// tollgate_insight_dropped_total.
func (s *Stats) Observe(e *auditlog.Entry) {
	if s == nil || e.Kind != auditlog.KindCompletion {
		return
	}
	sl, pos := s.q.claim()
	if sl == nil {
		// Slow path: the aggregator is a full queue behind.
		s.dropped.Inc()
		return
	}
	r := &sl.r
	r.end = e.Start + e.Duration
	r.dur = e.Duration
	r.ip = e.ClientIP
	r.status = e.Status
	r.decision = e.Decision
	r.unverified = e.Unverified
	r.phash = 0
	r.plen = uint8(copy(r.principal[:], e.Principal))
	r.ptrunc = len(e.Principal) > capPrincipal
	if len(e.Principal) > 0 {
		r.phash = s.hash(e.Principal)
	}
	if len(e.Route) > 0 {
		r.rhash = s.hash(e.Route)
		r.rlen = uint8(copy(r.route[:], e.Route))
		r.routeIsPath = false
	} else {
		r.rhash = 0
		r.rlen = uint8(copy(r.route[:], e.Path))
		r.routeIsPath = true
	}
	r.mlen = uint8(copy(r.method[:], e.Method))
	r.rslen = uint8(copy(r.reason[:], e.Reason))
	s.q.publish(sl, pos)
}

// Close stops the aggregator and the live feed streams. It is safe to call
// more than once.
func (s *Stats) Close() error {
	s.closed.Do(func() { close(s.done) })
	s.wg.Wait()
	return nil
}

func (s *Stats) run() {
	defer s.wg.Done()
	t := time.NewTicker(drainInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.step(s.now())
		}
	}
}

// step drains the queue into the aggregates and closes the detector
// intervals that ended by now.
func (s *Stats) step(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	s.feed.mu.Lock()
	for ; n < len(s.q.slots); n++ {
		r := s.q.next()
		if r == nil {
			break
		}
		s.fold(r)
		s.feed.push(r)
		s.q.release()
	}
	s.feed.mu.Unlock()
	s.folded += uint64(n)
	s.observed.Add(n)
	s.det.tick(now.UnixNano(), &s.found)
}

// isError reports whether a request counts as an error in the top lists:
// answered with status ≥ 400, or not allowed by the proxy.
func isError(r *record) bool {
	return r.status >= 400 || r.decision != auditlog.DecisionAllowed
}

// isFailure reports whether a request counts toward the failure rate: a 5xx
// answer, or an upstream or proxy failure.
func isFailure(r *record) bool {
	return (r.status >= 500 && r.status < 600) || r.decision == auditlog.DecisionUpstreamError || r.decision == auditlog.DecisionFailed
}

func (s *Stats) fold(r *record) {
	isErr := isError(r)
	b := bucketOf(r.dur)
	if sec := s.series.bucket(floorDiv(r.end, 1e9)); sec != nil {
		sec.total++
		sec.classes[classOf(r.status)]++
		if isErr {
			sec.errors++
		}
		if isFailure(r) {
			sec.failures++
		}
		sec.lat[b]++
	}
	name := r.principalBytes()
	if r.ptrunc {
		n := copy(s.scratch[:], name[:capPrincipal-len("…")])
		n += copy(s.scratch[n:], "…")
		name = s.scratch[:n]
	}
	route := r.routeBytes()
	if r.routeIsPath {
		route = noneRoute
	}
	var ipKey uint64
	var ipName []byte
	if r.ip.IsValid() {
		a := r.ip.As16()
		ipKey = s.hash(a[:])
		ipName = appendAddr(s.ipName[:0], r.ip)
	}
	for i := range s.windows {
		p := s.windows[i].pane(r.end)
		if p == nil {
			continue
		}
		p.dims[dimEndpoint].add(r.rhash, route, isErr, b)
		if r.plen > 0 {
			p.dims[dimPrincipal].add(r.phash, name, isErr, b)
		}
		if ipKey != 0 {
			p.dims[dimIP].add(ipKey, ipName, isErr, b)
		}
	}
	s.det.observe(r, name, route, ipKey, ipName, &s.found)
}

// appendAddr appends a's text form; zones are dropped so the text fits
// nameCap.
func appendAddr(dst []byte, a netip.Addr) []byte {
	return a.WithZone("").AppendTo(dst)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
