package insight

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Detector names: the detector label of tollgate_insight_findings_total
// and the detector field of a Finding.
const (
	DetectorPrincipalBaseline = "principal_baseline"
	DetectorAuthFailures      = "auth_failures"
	DetectorSensitiveRoute    = "sensitive_route"
	DetectorErrorRise         = "error_rise"
)

const (
	detBaseline = iota
	detAuth
	detSensitive
	detErrorRise
	numDetectors
)

var detectorNames = [numDetectors]string{DetectorPrincipalBaseline, DetectorAuthFailures, DetectorSensitiveRoute, DetectorErrorRise}

// Finding is one unusual pattern a detector saw.
type Finding struct {
	// ID numbers findings from 1 in the order they were raised.
	ID uint64 `json:"id"`
	// Detector names the detector that raised the finding.
	Detector string `json:"detector"`
	// Time is when the finding was raised.
	Time time.Time `json:"time"`
	// Subject says what Who is: "principal", "ip" or "route".
	Subject string `json:"subject"`
	// Who is the principal, client IP or route the finding is about.
	Who string `json:"who"`
	// Route is the route involved, when there is one besides Who.
	Route string `json:"route,omitempty"`
	// Message says what happened, in one sentence.
	Message string `json:"message"`
	// Evidence holds the numbers the detector decided on.
	Evidence map[string]float64 `json:"evidence"`
}

// findings keeps the most recent findings in a ring.
type findings struct {
	ring  []Finding
	next  uint64 // ID of the next finding
	count [numDetectors]*metrics.Counter
}

func (f *findings) add(det int, fd Finding) {
	fd.ID = f.next
	fd.Detector = detectorNames[det]
	f.next++
	f.ring[fd.ID%uint64(len(f.ring))] = fd
	f.count[det].Inc()
}

// since returns up to max findings with ID > after, oldest first.
func (f *findings) since(after uint64, max int) []Finding {
	first := after + 1
	if n := uint64(len(f.ring)); f.next > n && first < f.next-n {
		first = f.next - n
	}
	if first < 1 {
		first = 1
	}
	if f.next > first && int(f.next-first) > max {
		first = f.next - uint64(max)
	}
	out := []Finding{}
	for id := first; id < f.next; id++ {
		out = append(out, f.ring[id%uint64(len(f.ring))])
	}
	return out
}

// baselineState is a principal's moving average and mean absolute
// deviation of its request count per interval.
type baselineState struct {
	name    [nameCap]byte
	nlen    uint8
	cur     uint32
	mean    float64
	dev     float64
	samples uint32
	firing  bool
}

// authState counts 401/403 answers for one IP or principal.
type authState struct {
	name   [nameCap]byte
	nlen   uint8
	start  int64 // Unix ns of the first failure of the current window
	count  uint32
	fired  bool
	route  [nameCap]byte
	rlen   uint8
	others uint32 // distinct-looking principals seen (IP key only, approximate)
	lastP  uint64
}

// seenState remembers when a principal last called a sensitive route.
type seenState struct{ last int64 }

// routeState is a route's 5xx counts and moving 5xx ratio.
type routeState struct {
	name    [nameCap]byte
	nlen    uint8
	total   uint32
	errs    uint32
	ratio   float64
	samples uint32
	firing  bool
}

type detectors struct {
	cfg Config

	baseline     *table[baselineState]
	baselineNext int64

	authIP, authP *table[authState]

	sensitive map[uint64]string
	seen      *table[seenState]
	learnEnd  int64

	routes    *table[routeState]
	routeNext int64
}

func newDetectors(cfg Config, startNs int64, hashRoute func(string) uint64) *detectors {
	d := &detectors{cfg: cfg}
	d.baseline = newTable(cfg.PrincipalBaseline.Tracked, func(s *baselineState) float64 { return s.mean + float64(s.cur) })
	authScore := func(s *authState) float64 { return float64(s.count) + float64(s.start)/1e18 }
	d.authIP = newTable(cfg.AuthFailures.Tracked, authScore)
	d.authP = newTable(cfg.AuthFailures.Tracked, authScore)
	if len(cfg.SensitiveRoutes.Routes) > 0 {
		d.sensitive = map[uint64]string{}
		for _, r := range cfg.SensitiveRoutes.Routes {
			d.sensitive[hashRoute(r)] = r
		}
		d.seen = newTable(cfg.SensitiveRoutes.Remember, func(s *seenState) float64 { return float64(s.last) })
		d.learnEnd = startNs + int64(cfg.SensitiveRoutes.Learn)
	}
	d.routes = newTable(cfg.ErrorRise.Tracked, func(s *routeState) float64 { return float64(s.total) + s.ratio })
	return d
}

func setName(dst *[nameCap]byte, n *uint8, b []byte) { *n = uint8(copy(dst[:], b)) }

// observe folds one record into the per-request detectors (auth failures,
// sensitive routes) and the interval counters of the others.
func (d *detectors) observe(r *record, name, route []byte, ipKey uint64, ipName []byte, out *findings) {
	p := r.phash
	if !d.cfg.PrincipalBaseline.Disable && r.plen > 0 {
		s, fresh := d.baseline.get(p)
		if fresh {
			setName(&s.name, &s.nlen, name)
		}
		s.cur++
	}
	if !d.cfg.AuthFailures.Disable && (r.status == 401 || r.status == 403) {
		if r.ip.IsValid() {
			d.authFailure(d.authIP, ipKey, ipName, "ip", r, route, out)
		}
		if r.plen > 0 {
			d.authFailure(d.authP, p, name, "principal", r, route, out)
		}
	}
	if d.sensitive != nil && r.plen > 0 && !r.routeIsPath {
		if tmpl, ok := d.sensitive[r.rhash]; ok {
			s, fresh := d.seen.get(p*0x9e3779b97f4a7c15 ^ r.rhash)
			s.last = r.end
			if fresh && r.end >= d.learnEnd {
				out.add(detSensitive, Finding{
					Time: time.Unix(0, r.end).UTC(), Subject: "principal", Who: string(name), Route: tmpl,
					Message:  fmt.Sprintf("principal %q called sensitive route %s for the first time (%s, status %d)", name, tmpl, r.decision, r.status),
					Evidence: map[string]float64{"status": float64(r.status)},
				})
			}
		}
	}
	if !d.cfg.ErrorRise.Disable {
		s, fresh := d.routes.get(r.rhash)
		if fresh {
			setName(&s.name, &s.nlen, route)
		}
		s.total++
		if r.status >= 500 && r.status < 600 {
			s.errs++
		}
	}
}

func (d *detectors) authFailure(t *table[authState], key uint64, who []byte, subject string, r *record, route []byte, out *findings) {
	c := &d.cfg.AuthFailures
	s, fresh := t.get(key)
	if fresh {
		setName(&s.name, &s.nlen, who)
	}
	if fresh || r.end-s.start > int64(c.Window) || r.end < s.start {
		s.start, s.count, s.fired, s.others, s.lastP = r.end, 0, false, 0, 0
	}
	s.count++
	if subject == "ip" && r.phash != s.lastP {
		s.others++
		s.lastP = r.phash
	}
	setName(&s.route, &s.rlen, route)
	if s.fired || s.count < uint32(c.Threshold) {
		return
	}
	s.fired = true
	secs := float64(r.end-s.start) / 1e9
	f := Finding{
		Time: time.Unix(0, r.end).UTC(), Subject: subject, Who: string(s.name[:s.nlen]), Route: string(s.route[:s.rlen]),
		Evidence: map[string]float64{"failures": float64(s.count), "seconds": secs, "window_seconds": c.Window.D().Seconds(), "threshold": float64(c.Threshold)},
	}
	if subject == "ip" {
		f.Message = fmt.Sprintf("%d answers of 401/403 to client %s within %s (threshold %d)", s.count, f.Who, roundDur(secs), c.Threshold)
		f.Evidence["principal_changes"] = float64(s.others)
	} else {
		f.Message = fmt.Sprintf("%d answers of 401/403 for principal %q within %s (threshold %d)", s.count, f.Who, roundDur(secs), c.Threshold)
	}
	out.add(detAuth, f)
}

func roundDur(secs float64) string {
	return strconv.FormatFloat(math.Round(secs*10)/10, 'f', -1, 64) + "s"
}

// tick closes the counting intervals that ended by now.
func (d *detectors) tick(nowNs int64, out *findings) {
	if !d.cfg.PrincipalBaseline.Disable {
		iv := int64(d.cfg.PrincipalBaseline.Interval)
		if d.baselineNext == 0 {
			d.baselineNext = nowNs + iv
		} else if nowNs >= d.baselineNext {
			d.closeBaseline(nowNs, out)
			d.baselineNext += iv * ((nowNs-d.baselineNext)/iv + 1)
		}
	}
	if !d.cfg.ErrorRise.Disable {
		iv := int64(d.cfg.ErrorRise.Interval)
		if d.routeNext == 0 {
			d.routeNext = nowNs + iv
		} else if nowNs >= d.routeNext {
			d.closeRoutes(nowNs, out)
			d.routeNext += iv * ((nowNs-d.routeNext)/iv + 1)
		}
	}
}

func (d *detectors) closeBaseline(nowNs int64, out *findings) {
	c := &d.cfg.PrincipalBaseline
	d.baseline.each(func(s *baselineState) {
		x := float64(s.cur)
		s.cur = 0
		if s.samples == 0 {
			s.mean, s.samples = x, 1
			return
		}
		over := x >= float64(c.MinRequests) && x >= c.Factor*s.mean && x > s.mean+c.Deviations*s.dev
		if over && !s.firing && s.samples >= uint32(c.MinSamples) {
			name := string(s.name[:s.nlen])
			out.add(detBaseline, Finding{
				Time: time.Unix(0, nowNs).UTC(), Subject: "principal", Who: name,
				Message:  fmt.Sprintf("principal %q made %.0f requests in %s where it averages %.1f", name, x, c.Interval.D(), s.mean),
				Evidence: map[string]float64{"requests": x, "mean": s.mean, "deviation": s.dev, "interval_seconds": c.Interval.D().Seconds(), "samples": float64(s.samples)},
			})
		}
		s.firing = over
		s.dev += c.Alpha * (math.Abs(x-s.mean) - s.dev)
		s.mean += c.Alpha * (x - s.mean)
		s.samples++
	})
}

func (d *detectors) closeRoutes(nowNs int64, out *findings) {
	c := &d.cfg.ErrorRise
	d.routes.each(func(s *routeState) {
		total, errs := s.total, s.errs
		s.total, s.errs = 0, 0
		if total == 0 {
			return
		}
		r := float64(errs) / float64(total)
		over := errs >= uint32(c.MinErrors) && r >= c.MinRatio && r >= c.Factor*s.ratio
		if over && !s.firing {
			name := string(s.name[:s.nlen])
			out.add(detErrorRise, Finding{
				Time: time.Unix(0, nowNs).UTC(), Subject: "route", Who: name,
				Message:  fmt.Sprintf("route %s answered %d of %d requests with 5xx in %s (%.0f%%, usually %.1f%%)", name, errs, total, c.Interval.D(), 100*r, 100*s.ratio),
				Evidence: map[string]float64{"errors_5xx": float64(errs), "requests": float64(total), "ratio": r, "baseline_ratio": s.ratio, "interval_seconds": c.Interval.D().Seconds()},
			})
		}
		s.firing = over
		if s.samples == 0 {
			s.ratio = r
		} else {
			s.ratio += c.Alpha * (r - s.ratio)
		}
		s.samples++
	})
}
