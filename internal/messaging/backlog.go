package messaging

import (
	"context"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Backlog counts the outbox rows written and not yet acknowledged by the broker (the relay
// deletes a row once the broker has it). The outbox holds only that backlog, so the count reads
// no more than the rows waiting.
func Backlog(ctx context.Context, db *sqlstore.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n)
	return n, err
}
