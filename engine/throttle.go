package engine

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// ThrottledLogger logs at most one line per interval and counts what it
// suppressed, so a failure on the hot path (an upstream down under load)
// cannot flood the operational log.
type ThrottledLogger struct {
	log        *slog.Logger
	interval   int64 // nanoseconds
	last       atomic.Int64
	suppressed atomic.Int64
}

// NewThrottledLogger returns a logger that writes at most once per interval.
func NewThrottledLogger(log *slog.Logger, interval time.Duration) *ThrottledLogger {
	return &ThrottledLogger{log: log, interval: int64(interval)}
}

// Warn logs msg unless a line was logged less than an interval ago.
func (t *ThrottledLogger) Warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := t.last.Load()
	if now-last < t.interval || !t.last.CompareAndSwap(last, now) {
		t.suppressed.Add(1)
		return
	}
	if n := t.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	t.log.Warn(msg, args...)
}
