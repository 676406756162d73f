package concurrency

import (
	"errors"
	"strconv"
	"time"

	"github.com/tollgate-proxy/tollgate/filters"
)

// Config is the filter's config block.
type Config struct {
	// MaxConcurrent is the number of requests let through at once; required.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxQueue is the number of requests that may wait for a slot; 0 sheds at once when every slot is taken. Default MaxConcurrent.
	MaxQueue *int `yaml:"max_queue"`
	// QueueTimeout is the longest a request waits for a slot before it is refused; default 1s.
	QueueTimeout filters.Duration `yaml:"queue_timeout"`
	// RetryAfter is the delay advised to shed clients, in whole seconds; default 1s.
	RetryAfter filters.Duration `yaml:"retry_after"`
}

// Limits on the config values.
const (
	MaxConcurrent = 1 << 20
	MaxQueue      = 1 << 20
	MaxTimeout    = 5 * time.Minute
)

// New builds the filter from its config entry. A decode error does not
// stop the checks: they run on what decoded (a setting that failed keeps
// its zero value), so one run reports every problem, each at its setting.
func New(spec filters.Spec) (filters.Filter, error) {
	var cfg Config
	decodeErr := spec.Decode(&cfg)
	f, err := build(spec, cfg, decodeErr)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func build(spec filters.Spec, cfg Config, decodeErr ...error) (*Filter, error) {
	errs := append([]error(nil), decodeErr...)
	if cfg.MaxConcurrent < 1 || cfg.MaxConcurrent > MaxConcurrent {
		errs = append(errs, spec.ErrorAt("max_concurrent", "want 1 to %d, got %d", MaxConcurrent, cfg.MaxConcurrent))
	}
	queue := cfg.MaxConcurrent
	// The default follows max_concurrent, whose own check covers it: only
	// a queue length written out is checked here.
	if cfg.MaxQueue != nil {
		queue = *cfg.MaxQueue
		if queue < 0 || queue > MaxQueue {
			errs = append(errs, spec.ErrorAt("max_queue", "want 0 to %d, got %d", MaxQueue, queue))
		}
	}
	timeout := cfg.QueueTimeout.D()
	if timeout == 0 {
		timeout = time.Second
	}
	if timeout > MaxTimeout {
		errs = append(errs, spec.ErrorAt("queue_timeout", "want at most %s, got %s", MaxTimeout, timeout))
	}
	retry := cfg.RetryAfter.D()
	if retry == 0 {
		retry = time.Second
	}
	if retry%time.Second != 0 {
		errs = append(errs, spec.ErrorAt("retry_after", "want a whole number of seconds (Retry-After has no fractions), got %s", retry))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f := &Filter{
		limit:      int64(cfg.MaxConcurrent),
		maxQueue:   queue,
		timeout:    timeout,
		retryAfter: strconv.AppendInt(nil, int64(retry/time.Second), 10),
		// Declared per instance: Finish tells its own refusals apart by
		// pointer. 503 Service Unavailable, RFC 9110 §15.6.4.
		reasonFull:    filters.NewReason(CodeQueueFull, 503, filters.DecisionThrottled, "too many concurrent requests: queue full"),
		reasonTimeout: filters.NewReason(CodeQueueTimeout, 503, filters.DecisionThrottled, "too many concurrent requests: timed out waiting in the queue"),
	}
	f.waiters.New = newWaiter
	f.buildMetrics(spec.Route)
	return f, nil
}
