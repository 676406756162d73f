package insight

import (
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog"
)

// BenchmarkObserve measures the request goroutine's cost, with the
// aggregator draining in the background as in production.
func BenchmarkObserve(b *testing.B) {
	s := New(Config{}, nil)
	defer s.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var e auditlog.Entry
		req{principal: "principal-with-a-realistic-name", ip: "192.0.2.44", route: "/v1/orders/{id}", status: 200, latency: 2 * time.Millisecond}.entry(&e)
		e.Start = time.Now().UnixNano()
		for pb.Next() {
			s.Observe(&e)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(s.dropped.Get())/float64(b.N), "dropped/op")
}

// BenchmarkFold measures the aggregator's cost per request, over 1000
// principals, 64 routes and 1000 client IPs.
func BenchmarkFold(b *testing.B) {
	s, c := newTestStats(b, Config{SensitiveRoutes: SensitiveConfig{Routes: []string{"/r/7"}}})
	es := make([]auditlog.Entry, 4096)
	for i := range es {
		st := uint16(200)
		if i%17 == 0 {
			st = 401
		}
		req{principal: "p" + strconv.Itoa(i%1000), ip: "10.0." + strconv.Itoa(i%4) + "." + strconv.Itoa(i%250), route: "/r/" + strconv.Itoa(i%64), status: st}.entry(&es[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Observe(&es[i%len(es)])
		if i%1024 == 1023 {
			s.step(c.t)
		}
	}
	s.step(c.t)
}

// BenchmarkObservePublished measures Observe when every record is
// published (one goroutine; the queue is emptied, untimed, every 1024
// calls). BenchmarkObserve's aggregator cannot keep up with a tight loop on
// two cores, so it mostly measures the cheaper drop path (see dropped/op).
func BenchmarkObservePublished(b *testing.B) {
	s, _ := newTestStats(b, Config{})
	var e auditlog.Entry
	req{principal: "principal-with-a-realistic-name", ip: "192.0.2.44", route: "/v1/orders/{id}", status: 200, latency: 2 * time.Millisecond}.entry(&e)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Observe(&e)
		if i%1024 == 1023 {
			b.StopTimer()
			for s.q.next() != nil {
				s.q.release()
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.dropped.Get())/float64(b.N), "dropped/op")
}
