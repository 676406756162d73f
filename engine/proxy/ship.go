package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/mod/sumdb/note"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/config"
)

// shipping is the running copy of the audit log to PostgreSQL: the
// shipper and its own series, which a reload may start, stop or move to
// another database.
type shipping struct {
	s   *pgship.Shipper
	set *metrics.Set
}

// newShipping builds, without starting it, a shipper of the running log
// (a's directory, under its origin: the name of its signing key) to pg.
func newShipping(a *config.Audit, pg *config.AuditShipPostgres, log *slog.Logger) (*shipping, error) {
	key, err := os.ReadFile(a.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read audit signing key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		return nil, fmt.Errorf("cannot parse audit signing key: %w", err)
	}
	set := metrics.NewSet()
	s, err := pgship.New(pgship.Options{
		URL: pg.URL, Dir: a.Dir, Origin: signer.Name(), MaxLag: uint64(pg.MaxLag),
		Metrics: set, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot ship the audit log: %w", err)
	}
	return &shipping{s: s, set: set}, nil
}

// startAuditShipping wires what shipping needs into a proxy with an audit
// log, and starts shipping when the config asks for it: the recorder's
// Behind condition and the dashboard's cluster view are in place from the
// start, so a reload can turn shipping on.
func (p *Proxy) startAuditShipping(cfg *config.Config) error {
	if !p.rec.Audits() {
		return nil
	}
	p.rec.SetBehind(p.shipBehind)
	p.cluster = &clusterView{top: cfg.Insight.TopK}
	p.stats.SetCluster(p.cluster)
	pg := shipPostgres(cfg.Audit)
	if pg == nil {
		return nil
	}
	cl, err := p.cluster.prepare(pg.URL)
	if err != nil {
		return err
	}
	sh, err := newShipping(cfg.Audit, pg, p.log)
	if err != nil {
		cl.Close()
		return err
	}
	p.cluster.swap(cl)
	p.startShipping(sh)
	return nil
}

// startShipping starts sh. Retention then deletes only records the
// database holds; while max_lag is set, requests are refused when the
// copy is behind (shipBehind).
func (p *Proxy) startShipping(sh *shipping) {
	p.rec.HoldRetention(sh.s.Shipped)
	p.ship.Store(sh)
	sh.s.Start()
}

// stopShipping stops the running shipper, if any, after its last bounded
// attempt, and lifts its hold on retention. forget, when shipping is
// turned off rather than the proxy stopped, also removes its mark from the
// log directory, so offline pruning no longer waits for it.
func (p *Proxy) stopShipping(forget bool) error {
	sh := p.ship.Swap(nil)
	if sh == nil {
		return nil
	}
	p.rec.HoldRetention(nil)
	err := sh.s.Close()
	if forget {
		err = errors.Join(err, sh.s.Forget())
	}
	return err
}

// shipBehind is the recorder's Behind condition: fail-closed shipping
// whose copy is more than max_lag records behind. It is false while
// nothing is shipped or max_lag is 0.
func (p *Proxy) shipBehind() bool {
	sh := p.ship.Load()
	return sh != nil && sh.s.Behind()
}

// shipReload is a change of the shipping settings a reload brings, checked
// and ready: apply applies it once the new config is in, discard drops it
// when the reload is rejected after all.
type shipReload struct {
	p     *Proxy
	pg    *config.AuditShipPostgres // nil: stop shipping
	start *shipping                 // shipping to start (it was off); nil: move the running one
	cl    *pgship.Cluster           // the cluster view's pool for pg.URL
}

// reloadAudit compares the audit settings of a reload with the running
// ones. The log's own settings (directory, key, durability, segments,
// retention) take effect on restart: restartOnly reports such a change,
// for the caller to warn of once the reload is in. Shipping to
// PostgreSQL is applied: started, stopped, or moved to a new URL or
// max_lag. reloadAudit checks the change and returns it ready; a URL that
// cannot be used rejects the reload. It returns a nil change when there
// is nothing to apply.
func (p *Proxy) reloadAudit(old, cur *config.Audit) (_ *shipReload, restartOnly bool, _ error) {
	var o, c config.Audit
	if old != nil {
		o = *old
	}
	if cur != nil {
		c = *cur
	}
	oldPG, curPG := shipPostgres(old), shipPostgres(cur)
	o.Ship, c.Ship = nil, nil
	restartOnly = (old == nil) != (cur == nil) || !reflect.DeepEqual(o, c)
	switch {
	case reflect.DeepEqual(oldPG, curPG):
		return nil, restartOnly, nil
	case old == nil || !p.rec.Audits():
		// No log is written until a restart, so nothing to ship.
		return nil, restartOnly, nil
	case curPG == nil:
		return &shipReload{p: p}, restartOnly, nil
	}
	cl, err := p.cluster.prepare(curPG.URL)
	if err != nil {
		return nil, false, fmt.Errorf("audit.ship.postgres.url: %w", err)
	}
	r := &shipReload{p: p, pg: curPG, cl: cl}
	if p.ship.Load() == nil {
		// The running log (old's directory and key) is what is shipped.
		if r.start, err = newShipping(old, curPG, p.log); err != nil {
			cl.Close()
			return nil, false, err
		}
	}
	return r, restartOnly, nil
}

// apply starts, stops or moves shipping, and the cluster view with it.
func (r *shipReload) apply() {
	p := r.p
	switch {
	case r.pg == nil:
		err := p.stopShipping(true)
		p.cluster.swap(nil)
		p.log.Info("audit shipping to PostgreSQL stopped", "err", err)
	case r.start != nil:
		p.startShipping(r.start)
		p.cluster.swap(r.cl)
		p.log.Info("audit shipping to PostgreSQL started", "max_lag", r.pg.MaxLag)
	default:
		if err := p.ship.Load().s.Reconfigure(r.pg.URL, uint64(r.pg.MaxLag)); err != nil {
			// Not reached: prepare parsed the same URL.
			p.log.Error("audit shipping settings not applied", "err", err)
		}
		p.cluster.swap(r.cl)
		p.log.Info("audit shipping settings applied", "max_lag", r.pg.MaxLag)
	}
}

// discard drops a change that is not applied.
func (r *shipReload) discard() {
	if r.cl != nil {
		r.cl.Close()
	}
	if r.start != nil {
		_ = r.start.s.Close() // never started: nothing to wait for
	}
}

// shipPostgres returns a's PostgreSQL shipping settings, or nil.
func shipPostgres(a *config.Audit) *config.AuditShipPostgres {
	if a == nil || a.Ship == nil {
		return nil
	}
	return a.Ship.Postgres
}
