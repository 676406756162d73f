package insight

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config sets the windows, list sizes and detector thresholds of the
// statistics. The zero value is valid: every field has a default.
type Config struct {
	// Windows are the sliding windows the top lists and totals are kept over, each between 10s and 1h; they default to 1m, 15m and 1h, and at most four may be given.
	Windows []filters.Duration `yaml:"windows"`
	// TopK is how many endpoints, principals and client IPs each top list shows; it defaults to 10.
	TopK int `yaml:"top_k"`
	// Capacity is how many items each heavy-hitter summary tracks per window slice; an item with more than 1/Capacity of a window's requests is always listed. It defaults to 64 and must be at least TopK.
	Capacity int `yaml:"capacity"`
	// FeedEventsPerTick is the most access events the live feed sends one client every 250ms; the rest are counted as skipped. It defaults to 50.
	FeedEventsPerTick int `yaml:"feed_events_per_tick"`
	// MaxFindings is how many recent detector findings are kept for the dashboard and /api/findings; it defaults to 256.
	MaxFindings int `yaml:"max_findings"`
	// PrincipalBaseline flags a principal whose request count in an interval is far above its own moving average.
	PrincipalBaseline BaselineConfig `yaml:"principal_baseline"`
	// AuthFailures flags bursts of 401 and 403 answers from one client IP or against one principal.
	AuthFailures AuthFailureConfig `yaml:"auth_failures"`
	// SensitiveRoutes flags a principal calling a sensitive route for the first time.
	SensitiveRoutes SensitiveConfig `yaml:"sensitive_routes"`
	// ErrorRise flags a sudden rise of 5xx answers on a route.
	ErrorRise ErrorRiseConfig `yaml:"error_rise"`
}

// BaselineConfig configures the principal_baseline detector.
type BaselineConfig struct {
	// Disable turns the detector off.
	Disable bool `yaml:"disable"`
	// Interval is the length of the counting interval the baseline is kept in; it defaults to 10s.
	Interval filters.Duration `yaml:"interval"`
	// Alpha is the weight of the newest interval in the moving average and deviation, between 0 and 1; it defaults to 0.2.
	Alpha float64 `yaml:"alpha"`
	// MinSamples is how many intervals a principal must have been tracked before it can be flagged; it defaults to 6.
	MinSamples int `yaml:"min_samples"`
	// MinRequests is the fewest requests in one interval that can be flagged; it defaults to 100.
	MinRequests int `yaml:"min_requests"`
	// Factor is how many times its moving average a principal's count must reach to be flagged; it defaults to 5.
	Factor float64 `yaml:"factor"`
	// Deviations is how many mean absolute deviations above its moving average a principal's count must also be; it defaults to 4.
	Deviations float64 `yaml:"deviations"`
	// Tracked is how many principals have a baseline at once; the least active is forgotten first. It defaults to 1024.
	Tracked int `yaml:"tracked"`
}

// AuthFailureConfig configures the auth_failures detector.
type AuthFailureConfig struct {
	// Disable turns the detector off.
	Disable bool `yaml:"disable"`
	// Window is the time span failures are counted over, starting at a key's first failure; it defaults to 1m.
	Window filters.Duration `yaml:"window"`
	// Threshold is how many 401 or 403 answers to one client IP, or for one principal, within Window raise a finding; it defaults to 20.
	Threshold int `yaml:"threshold"`
	// Tracked is how many client IPs, and separately principals, are counted at once; it defaults to 4096.
	Tracked int `yaml:"tracked"`
}

// SensitiveConfig configures the sensitive_route detector.
type SensitiveConfig struct {
	// Routes are the route templates (as written in the routes section) whose first use by a principal raises a finding; the detector is off when the list is empty.
	Routes []string `yaml:"routes"`
	// Remember is how many principal and route pairs are remembered as seen; the least recently seen is forgotten first. It defaults to 16384.
	Remember int `yaml:"remember"`
	// Learn is how long after start findings are held back while the seen pairs are learned; it defaults to 0.
	Learn filters.Duration `yaml:"learn"`
}

// ErrorRiseConfig configures the error_rise detector.
type ErrorRiseConfig struct {
	// Disable turns the detector off.
	Disable bool `yaml:"disable"`
	// Interval is the length of the counting interval; it defaults to 10s.
	Interval filters.Duration `yaml:"interval"`
	// Alpha is the weight of the newest interval in the route's moving 5xx ratio, between 0 and 1; it defaults to 0.2.
	Alpha float64 `yaml:"alpha"`
	// MinErrors is the fewest 5xx answers on a route in one interval that can be flagged; it defaults to 10.
	MinErrors int `yaml:"min_errors"`
	// MinRatio is the smallest share of 5xx answers in an interval that can be flagged; it defaults to 0.1.
	MinRatio float64 `yaml:"min_ratio"`
	// Factor is how many times its moving 5xx ratio a route's ratio must reach to be flagged; it defaults to 4.
	Factor float64 `yaml:"factor"`
	// Tracked is how many routes are watched at once; it defaults to 256.
	Tracked int `yaml:"tracked"`
}

const (
	maxWindows  = 4
	maxWindow   = time.Hour
	minWindow   = 10 * time.Second
	maxTracked  = 1 << 20
	maxCapacity = 1024
)

// withDefaults returns c with every unset field at its default.
func (c Config) withDefaults() Config {
	if len(c.Windows) == 0 {
		c.Windows = []filters.Duration{filters.Duration(time.Minute), filters.Duration(15 * time.Minute), filters.Duration(time.Hour)}
	}
	setInt(&c.TopK, 10)
	setInt(&c.Capacity, 64)
	setInt(&c.FeedEventsPerTick, 50)
	setInt(&c.MaxFindings, 256)
	b := &c.PrincipalBaseline
	setDur(&b.Interval, 10*time.Second)
	setFloat(&b.Alpha, 0.2)
	setInt(&b.MinSamples, 6)
	setInt(&b.MinRequests, 100)
	setFloat(&b.Factor, 5)
	setFloat(&b.Deviations, 4)
	setInt(&b.Tracked, 1024)
	a := &c.AuthFailures
	setDur(&a.Window, time.Minute)
	setInt(&a.Threshold, 20)
	setInt(&a.Tracked, 4096)
	setInt(&c.SensitiveRoutes.Remember, 16384)
	r := &c.ErrorRise
	setDur(&r.Interval, 10*time.Second)
	setFloat(&r.Alpha, 0.2)
	setInt(&r.MinErrors, 10)
	setFloat(&r.MinRatio, 0.1)
	setFloat(&r.Factor, 4)
	setInt(&r.Tracked, 256)
	return c
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setFloat(p *float64, d float64) {
	if *p == 0 {
		*p = d
	}
}

func setDur(p *filters.Duration, d time.Duration) {
	if *p == 0 {
		*p = filters.Duration(d)
	}
}

// Validate reports every invalid setting of c (after defaults), joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Windows) > maxWindows {
		bad("insight.windows: %d windows given, at most %d are allowed", len(c.Windows), maxWindows)
	}
	for i, w := range c.Windows {
		if w.D() < minWindow || w.D() > maxWindow {
			bad("insight.windows[%d]: %s is outside 10s..1h", i, w.D())
		}
	}
	positive := func(name string, v, max int) {
		if v < 0 || v > max {
			bad("insight.%s: %d is outside 1..%d", name, v, max)
		}
	}
	positive("top_k", c.TopK, maxCapacity)
	positive("capacity", c.Capacity, maxCapacity)
	if c.Capacity < c.TopK {
		bad("insight.capacity: %d is below top_k %d", c.Capacity, c.TopK)
	}
	positive("feed_events_per_tick", c.FeedEventsPerTick, feedRing)
	positive("max_findings", c.MaxFindings, 1<<16)
	positive("principal_baseline.tracked", c.PrincipalBaseline.Tracked, maxTracked)
	positive("principal_baseline.min_samples", c.PrincipalBaseline.MinSamples, 1<<20)
	positive("principal_baseline.min_requests", c.PrincipalBaseline.MinRequests, 1<<30)
	positive("auth_failures.tracked", c.AuthFailures.Tracked, maxTracked)
	positive("auth_failures.threshold", c.AuthFailures.Threshold, 1<<30)
	positive("sensitive_routes.remember", c.SensitiveRoutes.Remember, maxTracked)
	positive("error_rise.tracked", c.ErrorRise.Tracked, maxTracked)
	positive("error_rise.min_errors", c.ErrorRise.MinErrors, 1<<30)
	unit := func(name string, v float64) {
		if !(v > 0 && v <= 1) {
			bad("insight.%s: %v is outside (0, 1]", name, v)
		}
	}
	unit("principal_baseline.alpha", c.PrincipalBaseline.Alpha)
	unit("error_rise.alpha", c.ErrorRise.Alpha)
	unit("error_rise.min_ratio", c.ErrorRise.MinRatio)
	atLeastOne := func(name string, v float64) {
		if !(v >= 1) {
			bad("insight.%s: %v is below 1", name, v)
		}
	}
	atLeastOne("principal_baseline.factor", c.PrincipalBaseline.Factor)
	atLeastOne("error_rise.factor", c.ErrorRise.Factor)
	if !(c.PrincipalBaseline.Deviations >= 0) {
		bad("insight.principal_baseline.deviations: %v is negative", c.PrincipalBaseline.Deviations)
	}
	for _, d := range []struct {
		name string
		v    filters.Duration
	}{
		{"principal_baseline.interval", c.PrincipalBaseline.Interval},
		{"auth_failures.window", c.AuthFailures.Window},
		{"error_rise.interval", c.ErrorRise.Interval},
	} {
		if d.v.D() < time.Second {
			bad("insight.%s: %s is below 1s", d.name, d.v.D())
		}
	}
	for i, r := range c.SensitiveRoutes.Routes {
		if r == "" {
			bad("insight.sensitive_routes.routes[%d]: empty route", i)
		}
	}
	return errors.Join(errs...)
}
