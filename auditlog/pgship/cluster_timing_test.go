package pgship

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// BenchmarkClusterStats measures one cluster view of a 15-minute window
// over a 300k-row table (about 100 rows in the window), the query the
// dashboard sends at most once per 2 s per window.
func BenchmarkClusterStats(b *testing.B) {
	pg := testpg.New(b)
	now := time.Now()
	fillSynthetic(b, pg.URL(), now, 300_000)
	cl, err := NewCluster(ClusterOptions{URL: pg.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := cl.Stats(ctx, now, 15*time.Minute)
		if err != nil || st.Totals.Requests == 0 {
			b.Fatalf("%v, %+v", err, st)
		}
	}
}
