package order

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Statuses are every status an order can be in, in saga order.
var Statuses = []Status{Pending, Payment, Inventory, Fulfillment, Compensating, Completed, Failed, Cancelled}

// countsMaxAge is how old an answer of Counts may be. Counting the orders that ended reads an
// index entry per order, so a process counts at most this often, however often it is asked.
const countsMaxAge = 5 * time.Second

// statusCounts is the last count of Counts. mu is held while counting, so that callers arriving
// meanwhile wait for that count rather than start their own.
type statusCounts struct {
	mu       sync.Mutex
	at       time.Time
	byStatus map[Status]int64
}

// Counts returns how many orders are in each status (every status, 0 when none), counted at most
// countsMaxAge ago.
func (s *Service) Counts(ctx context.Context) (map[Status]int64, error) {
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byStatus != nil && time.Since(c.at) < countsMaxAge {
		return maps.Clone(c.byStatus), nil
	}
	byStatus := make(map[Status]int64, len(Statuses))
	for _, st := range Statuses {
		byStatus[st] = 0
	}
	// GROUP BY status reads the status index (orders_status), not the table.
	if _, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (struct{}, error) {
		var status string
		var n int64
		err := r.Scan(&status, &n)
		byStatus[Status(status)] = n
		return struct{}{}, err
	}, `SELECT status, COUNT(*) FROM orders GROUP BY status`); err != nil {
		return nil, fmt.Errorf("count orders: %w", err)
	}
	c.at, c.byStatus = time.Now(), byStatus
	return maps.Clone(byStatus), nil
}
