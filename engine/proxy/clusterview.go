package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/config"
	"github.com/tollgate-proxy/tollgate/engine/insight"
)

// clusterView is the dashboard's cluster view read from the database the
// audit log is shipped to: the insight.ClusterSource the admin listener's
// /api/cluster answers from.
type clusterView struct {
	c *pgship.Cluster
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
	cl, err := pgship.NewCluster(pgship.ClusterOptions{URL: c.Ship.Postgres.URL, Top: top})
	if err != nil {
		return nil, fmt.Errorf("cannot prepare the dashboard's cluster view: %w", err)
	}
	return &clusterView{c: cl}, nil
}

// ClusterStats implements insight.ClusterSource.
func (v *clusterView) ClusterStats(ctx context.Context, window time.Duration) (any, error) {
	return v.c.Stats(ctx, time.Now(), window)
}

// Close closes the view's connections.
func (v *clusterView) Close() {
	if v != nil {
		v.c.Close()
	}
}
