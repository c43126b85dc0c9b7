package order

import (
	"context"
	"time"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// RunDeadlines watches saga steps until ctx ends: a step whose reply has not come by its deadline
// has its command sent again (under a new id, so that a lost reply is sent again too), and after
// StepAttempts sends the saga compensates and the order ends FAILED with reason TIMEOUT. Nothing
// is left hanging.
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

// expireSteps applies stepTimedOut to orders past their deadline at at, a bounded batch at a time.
// One order failing does not hold up the others: it is logged and tried again at the next tick.
func (s *Service) expireSteps(ctx context.Context, at time.Time) error {
	ids, err := s.orderIDs(ctx, `SELECT id FROM orders WHERE step_deadline < $1 ORDER BY step_deadline LIMIT 100`, at.UTC())
	if err != nil {
		return err
	}
	for _, id := range ids {
		changed, err := s.expireStep(ctx, id, at)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			s.log.Warn("expiring a saga step failed", "order_id", id, "err", err)
		case changed:
			s.log.Info("saga step timed out", "order_id", id)
		}
	}
	return nil
}

// expireStep applies stepTimedOut to one order if its step is still due at at. The overdue orders
// were read before this locks the order, and meanwhile a reply, or the deadline check of another
// replica, may have moved the step on: it must not be retried, nor its try counted, again.
func (s *Service) expireStep(ctx context.Context, id string, at time.Time) (changed bool, err error) {
	err = s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		// Its items: a retried ReserveStock or CreateShipment lists them.
		sg, err := readSagas(ctx, tx, []string{id}, []string{id})
		if err != nil {
			return err
		}
		changed, err = s.step(ctx, tx, sg[id], stepTimedOut, stepDue{by: at}, "")
		return err
	})
	return changed, err
}

// stepDue is the payload of stepTimedOut: the instant by which the step's deadline had passed.
type stepDue struct{ by time.Time }

func (stepDue) EventType() events.Type { return stepTimedOut }

// orderIDs runs a query for order ids.
func (s *Service) orderIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (id string, err error) {
		err = r.Scan(&id)
		return id, err
	}, query, args...)
}
