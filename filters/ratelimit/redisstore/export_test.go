package redisstore

import "context"

// TakeAt is takeAt for the external tests.
func (s *Store) TakeAt(ctx context.Context, key string, interval, tolerance, n, now int64) (Reply, error) {
	return s.takeAt(ctx, key, interval, tolerance, n, now)
}
