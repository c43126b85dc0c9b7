package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Claim records that consumer is applying eventID in tx. It returns false when the event was
// already applied, in which case the caller must skip it. Because the row commits or rolls back
// with the handler's effects, "applied" and "recorded" can never disagree.
func Claim(ctx context.Context, tx *sqlstore.Tx, consumer, eventID string) (bool, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, $3)
		 ON CONFLICT (consumer, event_id) DO NOTHING`,
		consumer, eventID, time.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("inbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inbox: %w", err)
	}
	return n == 1, nil
}
