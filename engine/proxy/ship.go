package proxy

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/mod/sumdb/note"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
)

// startShipper starts copying the audit log to PostgreSQL when the config
// asks for it, under the log's origin (the name of its signing key).
// Retention then deletes only records the database holds. With max_lag
// set, the recorder refuses requests while the copy is behind. It returns
// nil when there is nothing to ship.
func startShipper(c *config.Audit, rec *engine.Recorder, log *slog.Logger, set *metrics.Set) (*pgship.Shipper, error) {
	if c == nil || c.Ship == nil || c.Ship.Postgres == nil {
		return nil, nil
	}
	key, err := os.ReadFile(c.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read audit signing key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		return nil, fmt.Errorf("cannot parse audit signing key: %w", err)
	}
	pg := c.Ship.Postgres
	s, err := pgship.New(pgship.Options{
		URL: pg.URL, Dir: c.Dir, Origin: signer.Name(), MaxLag: uint64(pg.MaxLag),
		Metrics: set, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot ship the audit log: %w", err)
	}
	rec.HoldRetention(s.Shipped)
	if pg.MaxLag > 0 {
		rec.SetBehind(s.Behind)
	}
	s.Start()
	return s, nil
}
