package messaging

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Claim records that consumer is applying eventID in tx. It returns false when the event was
// already applied, in which case the caller must skip it. Because the row commits or rolls back
// with the handler's effects, "applied" and "recorded" can never disagree.
func Claim(ctx context.Context, tx *sqlstore.Tx, consumer, eventID string) (bool, error) {
	fresh, err := ClaimAll(ctx, tx, consumer, []string{eventID})
	if err != nil {
		return false, err
	}
	return fresh[0], nil
}

// ClaimAll is Claim for several events in one statement, the one a consumer sends with its
// batch's other reads (claimRead): one round trip, not one per event. It reports, for each of
// eventIDs, whether the caller should apply it: an event already applied is not fresh, and of an
// event listed twice (the relay published it twice) only the first is.
func ClaimAll(ctx context.Context, tx *sqlstore.Tx, consumer string, eventIDs []string) ([]bool, error) {
	fresh := make([]bool, len(eventIDs))
	if len(eventIDs) == 0 {
		return fresh, nil
	}
	return fresh, tx.QueryAll(ctx, claimRead(consumer, eventIDs, fresh))
}

// claimRead is ClaimAll's statement as a read that sets fresh, for a consumer to send with the
// other reads its batch starts with.
func claimRead(consumer string, eventIDs []string, fresh []bool) sqlstore.Read {
	first := map[string]int{} // event id -> its first index
	args := []any{consumer, time.Now().UTC()}
	var values []string
	for i, id := range eventIDs {
		if _, dup := first[id]; dup {
			continue
		}
		first[id] = i
		args = append(args, id)
		values = append(values, "($1, $"+strconv.Itoa(len(args))+", $2)")
	}
	return sqlstore.Read{
		Query: `INSERT INTO inbox (consumer, event_id, received_at) VALUES ` + strings.Join(values, ", ") +
			` ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id`,
		Args: args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return fmt.Errorf("inbox: %w", err)
				}
				fresh[first[id]] = true
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("inbox: %w", err)
			}
			return nil
		},
	}
}
