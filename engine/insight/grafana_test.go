package insight

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// TestGrafanaDashboard checks that the shipped Grafana dashboard parses and
// that every insight metric it queries is one this package exports.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatalf("cannot read the dashboard: %v", err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("cannot parse the dashboard: %v", err)
	}
	set := metrics.NewSet()
	newStats(Config{}, set, (&clock{t: t0}).now)
	var sb strings.Builder
	set.WritePrometheus(&sb)
	exported := sb.String()
	name := regexp.MustCompile(`tollgate_[a-z_]+`)
	queried := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "tollgate_") {
				t.Errorf("panel %q: query %q reads no tollgate metric", p.Title, tg.Expr)
			}
			for _, m := range name.FindAllString(tg.Expr, -1) {
				queried++
				if strings.HasPrefix(m, "tollgate_insight_") && !strings.Contains(exported, m) {
					t.Errorf("panel %q queries %s, which insight does not export", p.Title, m)
				}
			}
		}
	}
	if queried < 20 {
		t.Errorf("the dashboard queries only %d metric references", queried)
	}
}

// TestGrafanaLatencyQueries checks that every latency query of the shipped
// dashboard reads the le buckets Tollgate exports by default
// (metrics.histograms: prometheus), so it works on plain Prometheus as well
// as on VictoriaMetrics: a percentile is histogram_quantile over a sum kept
// by le, the heatmap sums by le alone, and no query uses a function only
// VictoriaMetrics has (those that read vmrange buckets among them).
func TestGrafanaLatencyQueries(t *testing.T) {
	b, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatalf("cannot read the dashboard: %v", err)
	}
	var d struct {
		Panels []struct {
			Title, Type string
			Targets     []struct{ Expr, Format string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("cannot parse the dashboard: %v", err)
	}
	const (
		hist    = "tollgate_http_request_duration_seconds"
		buckets = `rate\(` + hist + `_bucket\{route=~"\$route"\}\[\$__rate_interval\]\)`
	)
	quantile := regexp.MustCompile(`^histogram_quantile\((0\.\d+), sum by \(([a-z_, ]+)\) \(` + buckets + `\)\)$`)
	heatmap := regexp.MustCompile(`^sum by \(le\) \(` + buckets + `\)$`)
	// MetricsQL functions over buckets that PromQL lacks, and PromQL's
	// native-histogram functions, which classic le buckets do not feed.
	vmOnly := regexp.MustCompile(`\b(histogram_quantiles|prometheus_buckets|buckets_limit|histogram_share|histogram_over_time|share_le_over_time|share_gt_over_time|histogram_avg|histogram_count|histogram_sum|histogram_stddev|histogram_stdvar|histogram_fraction)\(`)
	var quantiles, heatmaps int
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, hist) {
				continue
			}
			if m := vmOnly.FindStringSubmatch(tg.Expr); m != nil {
				t.Errorf("panel %q uses %s, which plain Prometheus cannot run on le buckets: %s", p.Title, m[1], tg.Expr)
			}
			switch {
			case !strings.Contains(tg.Expr, hist+"_bucket"):
				// _sum and _count: both kinds of histogram export them.
				if !strings.Contains(tg.Expr, hist+"_sum") || !strings.Contains(tg.Expr, hist+"_count") {
					t.Errorf("panel %q: latency query %q reads neither buckets nor _sum / _count", p.Title, tg.Expr)
				}
			case quantile.MatchString(tg.Expr):
				quantiles++
				m := quantile.FindStringSubmatch(tg.Expr)
				labels := strings.Split(m[2], ", ")
				if !slices.Contains(labels, "le") {
					t.Errorf("panel %q: histogram_quantile over a sum that drops le: %s", p.Title, tg.Expr)
				}
				if p.Type != "timeseries" {
					t.Errorf("panel %q: percentiles in a %s panel", p.Title, p.Type)
				}
			case heatmap.MatchString(tg.Expr):
				heatmaps++
				if p.Type != "heatmap" || tg.Format != "heatmap" {
					t.Errorf("panel %q: bucket rates shown as a %s panel, format %q; want a heatmap", p.Title, p.Type, tg.Format)
				}
			default:
				t.Errorf("panel %q: bucket query %q is neither histogram_quantile(φ, sum by (..., le) (rate(..._bucket))) nor sum by (le) (rate(..._bucket))", p.Title, tg.Expr)
			}
		}
	}
	if quantiles < 4 || heatmaps != 1 {
		t.Errorf("the dashboard has %d percentile queries and %d heatmaps, want at least 4 and 1", quantiles, heatmaps)
	}
}
