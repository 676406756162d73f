package concurrency

import (
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

// New builds the filter from its config entry.
func New(spec filters.Spec) (filters.Filter, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	return build(spec, cfg)
}

func build(spec filters.Spec, cfg Config) (*Filter, error) {
	if cfg.MaxConcurrent < 1 || cfg.MaxConcurrent > MaxConcurrent {
		return nil, spec.Errorf("max_concurrent: want 1 to %d, got %d", MaxConcurrent, cfg.MaxConcurrent)
	}
	queue := cfg.MaxConcurrent
	if cfg.MaxQueue != nil {
		queue = *cfg.MaxQueue
	}
	if queue < 0 || queue > MaxQueue {
		return nil, spec.Errorf("max_queue: want 0 to %d, got %d", MaxQueue, queue)
	}
	timeout := cfg.QueueTimeout.D()
	if timeout == 0 {
		timeout = time.Second
	}
	if timeout > MaxTimeout {
		return nil, spec.Errorf("queue_timeout: want at most %s, got %s", MaxTimeout, timeout)
	}
	retry := cfg.RetryAfter.D()
	if retry == 0 {
		retry = time.Second
	}
	if retry%time.Second != 0 {
		return nil, spec.Errorf("retry_after: want a whole number of seconds (Retry-After has no fractions), got %s", retry)
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
