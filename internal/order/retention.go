package order

import (
	"context"
	"fmt"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
)

// pruneIdempotencyKeysSQL deletes one batch of expired keys, chosen through the created_at index
// and deleted by primary key (see messaging's pruneInboxSQL for why it is written this way).
//
// A key that Create replaces meanwhile (it deletes the expired row and inserts a fresh one with the
// same primary key, in one transaction) is safe: on PostgreSQL the DELETE only ever sees the row
// versions of its snapshot, and skips the expired version once Create has deleted it; SQLite runs
// one writer at a time.
const pruneIdempotencyKeysSQL = `DELETE FROM idempotency_keys WHERE (scope, idem_key) IN
	(SELECT scope, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`

// PruneIdempotencyKeys deletes the Idempotency-Keys that expired by now (stored before
// now - s.IdempotencyTTL; Create no longer honours them), at most batch rows per transaction
// (messaging.DefaultRetentionBatch if batch <= 0). It returns how many it deleted. Use it as a
// messaging.RunRetention pruner:
//
//	func(ctx context.Context, now time.Time) (int64, error) {
//		return svc.PruneIdempotencyKeys(ctx, now, cfg.BatchSize)
//	}
func (s *Service) PruneIdempotencyKeys(ctx context.Context, now time.Time, batch int) (int64, error) {
	n, err := messaging.DeleteBatched(ctx, s.db, pruneIdempotencyKeysSQL, now.Add(-s.IdempotencyTTL), batch)
	if err != nil {
		return n, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
