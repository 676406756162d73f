package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/insight"
)

// clusterView is the dashboard's cluster view read from the database the
// audit log is shipped to: the insight.ClusterSource the admin listener's
// /api/cluster answers from. A reload that moves shipping to another
// database swaps the view's pool (swap).
type clusterView struct {
	c   atomic.Pointer[pgship.Cluster]
	top int
}

var _ insight.ClusterSource = (*clusterView)(nil)

// newClusterView prepares the cluster view when audit.ship.postgres is set,
// with top lists as long as the local dashboard's. It does not connect, so
// a database that is down at start costs the dashboard its cluster panel,
// not the proxy its start. It returns nil when nothing is shipped.
func newClusterView(c *config.Audit, top int) (*clusterView, error) {
	if c == nil || c.Ship == nil || c.Ship.Postgres == nil {
		return nil, nil
	}
	v := &clusterView{top: top}
	cl, err := v.prepare(c.Ship.Postgres.URL)
	if err != nil {
		return nil, err
	}
	v.c.Store(cl)
	return v, nil
}

// prepare makes the view's pool for url without connecting.
func (v *clusterView) prepare(url string) (*pgship.Cluster, error) {
	cl, err := pgship.NewCluster(pgship.ClusterOptions{URL: url, Top: v.top})
	if err != nil {
		return nil, fmt.Errorf("cannot prepare the dashboard's cluster view: %w", err)
	}
	return cl, nil
}

// swap answers from cl from now on, and closes the pool it replaces
// (after the queries on it end, within their statement timeout).
func (v *clusterView) swap(cl *pgship.Cluster) {
	v.c.Swap(cl).Close()
}

// ClusterStats implements insight.ClusterSource.
func (v *clusterView) ClusterStats(ctx context.Context, window time.Duration) (any, error) {
	return v.c.Load().Stats(ctx, time.Now(), window)
}

// Close closes the view's connections.
func (v *clusterView) Close() {
	if v != nil {
		v.c.Load().Close()
	}
}
