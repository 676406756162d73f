package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// sink ships signed checkpoints off the host (a witness, SIEM or WORM
// bucket) so that an insider who rewrites the log and signs it again is
// still caught. It runs in its own goroutine; failures are counted and
// logged and never block appends.
type sink struct {
	url    string
	cmd    []string
	logger *slog.Logger
	stats  *Stats
	ch     chan []byte
	wg     sync.WaitGroup
	client *http.Client
}

func newSink(url string, cmd []string, logger *slog.Logger, stats *Stats) *sink {
	s := &sink{url: url, cmd: cmd, logger: logger, stats: stats, ch: make(chan []byte, 64),
		client: &http.Client{Timeout: 10 * time.Second}}
	s.wg.Add(1)
	go s.run()
	return s
}

func (s *sink) push(msg []byte) {
	select {
	case s.ch <- msg:
	default:
		atomic.AddUint64(&s.stats.SinkDropped, 1)
	}
}

func (s *sink) close() {
	close(s.ch)
	s.wg.Wait()
}

func (s *sink) run() {
	defer s.wg.Done()
	for msg := range s.ch {
		if err := s.send(msg); err != nil {
			atomic.AddUint64(&s.stats.SinkFailures, 1)
			s.logger.Warn("audit log: cannot ship checkpoint", "err", err)
		}
	}
}

func (s *sink) send(msg []byte) error {
	if s.url != "" {
		resp, err := s.client.Post(s.url, "text/plain; charset=utf-8", bytes.NewReader(msg))
		if err != nil {
			return fmt.Errorf("cannot post checkpoint: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("cannot post checkpoint: status %d", resp.StatusCode)
		}
	}
	if len(s.cmd) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, s.cmd[0], s.cmd[1:]...)
		c.Stdin = bytes.NewReader(msg)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("cannot run checkpoint command: %w: %s", err, bytes.TrimSpace(out))
		}
	}
	return nil
}
