package concurrency

import (
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// waitBuckets are the upper bounds of the queue-wait histogram, from a
// millisecond (a slot freed almost at once) to ten seconds.
var waitBuckets = [...]time.Duration{
	time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Stats is a snapshot of the filter's gauges and counters, for metrics.
type Stats struct {
	// Limit is the configured number of concurrent requests.
	Limit int64
	// InFlight is the number of requests holding a slot now.
	InFlight int64
	// Queued is the queue depth now.
	Queued int64
	// Waited counts requests admitted after waiting in the queue.
	Waited uint64
	// ShedQueueFull counts requests refused because the queue was full.
	ShedQueueFull uint64
	// ShedTimeout counts requests refused because their wait timed out.
	ShedTimeout uint64
	// WaitTotal is the summed queue wait of the requests counted in Waited.
	WaitTotal time.Duration
	// WaitCumulative[i] counts admitted waits ≤ WaitBuckets()[i]; the last
	// element counts all of them (the +Inf bucket), so it equals Waited up
	// to concurrent updates.
	WaitCumulative [len(waitBuckets) + 1]uint64
}

// WaitBuckets returns the upper bounds of the queue-wait histogram.
func WaitBuckets() []time.Duration { return append([]time.Duration(nil), waitBuckets[:]...) }

// Stats returns a snapshot. It is cheap and safe for concurrent use.
func (f *Filter) Stats() Stats {
	s := Stats{
		Limit:         f.limit,
		InFlight:      f.inFlight.Load(),
		Queued:        f.queued.Load(),
		Waited:        f.waited.Load(),
		ShedQueueFull: f.shedFull.Load(),
		ShedTimeout:   f.shedTimeout.Load(),
		WaitTotal:     time.Duration(f.waitNanos.Load()),
	}
	var sum uint64
	for i := range f.waitHist {
		sum += f.waitHist[i].Load()
		s.WaitCumulative[i] = sum
	}
	return s
}

func (f *Filter) observeWait(d time.Duration) {
	f.waitSeconds.Update(d.Seconds())
	f.waitNanos.Add(uint64(d))
	i := 0
	for i < len(waitBuckets) && d > waitBuckets[i] {
		i++
	}
	f.waitHist[i].Add(1)
}

// Metrics returns the filter's metrics, built when the filter was: limit,
// in-flight and queue-depth gauges, shed counts by reason, admissions after
// a wait, and a histogram of those waits (buckets WaitBuckets()).
func (f *Filter) Metrics() *metrics.Set { return f.metrics }

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func (f *Filter) buildMetrics(route string) {
	set := metrics.NewSet()
	r := `route="` + labelEscaper.Replace(route) + `"`
	set.NewGauge(`tollgate_concurrency_limit{`+r+`}`, func() float64 { return float64(f.limit) })
	set.NewGauge(`tollgate_concurrency_in_flight{`+r+`}`, func() float64 { return float64(f.inFlight.Load()) })
	set.NewGauge(`tollgate_concurrency_queue_depth{`+r+`}`, func() float64 { return float64(f.queued.Load()) })
	set.NewGauge(`tollgate_concurrency_waited_total{`+r+`}`, func() float64 { return float64(f.waited.Load()) })
	set.NewGauge(`tollgate_concurrency_shed_total{`+r+`,reason="`+CodeQueueFull+`"}`, func() float64 { return float64(f.shedFull.Load()) })
	set.NewGauge(`tollgate_concurrency_shed_total{`+r+`,reason="`+CodeQueueTimeout+`"}`, func() float64 { return float64(f.shedTimeout.Load()) })
	bounds := make([]float64, len(waitBuckets))
	for i, b := range waitBuckets {
		bounds[i] = b.Seconds()
	}
	f.waitSeconds = set.NewPrometheusHistogramExt(`tollgate_concurrency_queue_wait_seconds{`+r+`}`, bounds)
	f.metrics = set
}
