package proxy

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/mod/sumdb/note"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine"
	"github.com/tollgate-proxy/tollgate/engine/config"
)

// startShipper starts copying the audit log to PostgreSQL when the config
// asks for it, under the log's origin (the name of its signing key).
// Retention then deletes only records the database holds. While max_lag
// is set, the recorder refuses requests when the copy is behind. It
// returns nil when there is nothing to ship.
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
	// Behind is false while max_lag is 0, and a reload may set it.
	rec.SetBehind(s.Behind)
	s.Start()
	return s, nil
}

// shipReload is a change of the shipping settings a reload brings, checked
// and ready: apply applies it once the new config is in, discard drops it
// when the reload is rejected after all.
type shipReload struct {
	p          *Proxy
	pg         *config.AuditShipPostgres
	urlChanged bool
	cl         *pgship.Cluster // the cluster view's pool for pg.URL
}

// reloadAudit compares the audit settings of a reload with the running
// ones. The log's own settings (directory, key, durability, segments,
// retention) take effect on restart, as does turning shipping on or off:
// it warns of those. A change of the shipping settings (the PostgreSQL
// URL, max_lag) is applied: reloadAudit checks it and returns it ready,
// and a URL that cannot be used rejects the reload. It returns nil when
// there is nothing to apply.
func (p *Proxy) reloadAudit(old, cur *config.Audit) (*shipReload, error) {
	var o, c config.Audit
	if old != nil {
		o = *old
	}
	if cur != nil {
		c = *cur
	}
	oldPG, curPG := shipPostgres(old), shipPostgres(cur)
	o.Ship, c.Ship = nil, nil
	if (old == nil) != (cur == nil) || !reflect.DeepEqual(o, c) {
		p.log.Warn("audit settings changed; they take effect on restart")
	}
	switch {
	case reflect.DeepEqual(oldPG, curPG):
		return nil, nil
	case oldPG == nil || curPG == nil || p.ship == nil || p.cluster == nil:
		p.log.Warn("audit.ship.postgres added or removed; it takes effect on restart")
		return nil, nil
	}
	cl, err := p.cluster.prepare(curPG.URL)
	if err != nil {
		return nil, fmt.Errorf("audit.ship.postgres.url: %w", err)
	}
	return &shipReload{p: p, pg: curPG, urlChanged: oldPG.URL != curPG.URL, cl: cl}, nil
}

// apply moves the shipper and the cluster view to the new settings.
func (r *shipReload) apply() {
	if err := r.p.ship.Reconfigure(r.pg.URL, uint64(r.pg.MaxLag)); err != nil {
		// Not reached: prepare parsed the same URL.
		r.p.log.Error("audit shipping settings not applied", "err", err)
	}
	r.p.cluster.swap(r.cl)
	r.p.log.Info("audit shipping settings applied", "url_changed", r.urlChanged, "max_lag", r.pg.MaxLag)
}

// discard drops a change that is not applied.
func (r *shipReload) discard() { r.cl.Close() }

// shipPostgres returns a's PostgreSQL shipping settings, or nil.
func shipPostgres(a *config.Audit) *config.AuditShipPostgres {
	if a == nil || a.Ship == nil {
		return nil
	}
	return a.Ship.Postgres
}
