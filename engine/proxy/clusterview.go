package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tollgate-proxy/tollgate/auditlog/pgship"
	"github.com/tollgate-proxy/tollgate/engine/insight"
)

// clusterView is the dashboard's cluster view read from the database the
// audit log is shipped to: the insight.ClusterSource the admin listener's
// /api/cluster answers from. A proxy with an audit log always has one; it
// holds a pool only while shipping is configured, and a reload that
// turns shipping on, off or to another database swaps the pool (swap).
type clusterView struct {
	c   atomic.Pointer[pgship.Cluster] // nil: not shipping
	top int
}

var _ insight.ClusterSource = (*clusterView)(nil)

// prepare makes a pool for url, with top lists as long as the local
// dashboard's. It does not connect, so a database that is down costs the
// dashboard its cluster panel, not the proxy its start or reload.
func (v *clusterView) prepare(url string) (*pgship.Cluster, error) {
	cl, err := pgship.NewCluster(pgship.ClusterOptions{URL: url, Top: v.top})
	if err != nil {
		return nil, fmt.Errorf("cannot prepare the dashboard's cluster view: %w", err)
	}
	return cl, nil
}

// swap answers from cl (nil: no database) from now on, and closes the
// pool it replaces, after the queries on it end (within their statement
// timeout).
func (v *clusterView) swap(cl *pgship.Cluster) {
	if old := v.c.Swap(cl); old != nil {
		old.Close()
	}
}

// ClusterStats implements insight.ClusterSource.
func (v *clusterView) ClusterStats(ctx context.Context, window time.Duration) (any, error) {
	cl := v.c.Load()
	if cl == nil {
		return nil, insight.ErrNoCluster
	}
	return cl.Stats(ctx, time.Now(), window)
}

// Close closes the view's connections.
func (v *clusterView) Close() { v.swap(nil) }
