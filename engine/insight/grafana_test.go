package insight

import (
	"encoding/json"
	"os"
	"regexp"
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
