package order

import (
	"context"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// RunDeadlines watches saga steps until ctx ends: a step whose reply has not come by its deadline
// has its command sent again (same command id), and after StepAttempts sends the saga compensates
// and the order ends FAILED with reason TIMEOUT. Nothing is left hanging.
func (s *Service) RunDeadlines(ctx context.Context) {
	tick := max(s.StepTimeout/4, 50*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.expireSteps(ctx, now()); err != nil && ctx.Err() == nil {
			s.log.Warn("checking saga deadlines failed", "err", err)
		}
	}
}

// expireSteps applies stepTimedOut to orders past their deadline, a bounded batch at a time.
func (s *Service) expireSteps(ctx context.Context, at time.Time) error {
	ids, err := s.orderIDs(ctx, `SELECT id FROM orders WHERE step_deadline < $1 LIMIT 100`, at.UTC())
	if err != nil {
		return err
	}
	for _, id := range ids {
		var changed bool
		err := s.db.InTx(ctx, func(tx *sqlstore.Tx) (err error) {
			changed, err = s.step(ctx, tx, id, stepTimedOut, nil, "")
			return err
		})
		switch {
		case err != nil:
			return err
		case changed:
			s.log.Info("saga step timed out", "order_id", id)
		}
	}
	return nil
}

// orderIDs runs a query for order ids.
func (s *Service) orderIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (id string, err error) {
		err = r.Scan(&id)
		return id, err
	}, query, args...)
}
