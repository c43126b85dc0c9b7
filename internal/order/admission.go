package order

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ordersys/ordersys/internal/errs"
)

// Admission defaults: see admission.
const (
	DefaultMaxCreates  = 32
	DefaultMaxInFlight = 500
)

// admission bounds the work a process takes on, so that offered more orders than the system can
// carry, it refuses the excess at once (503 with Retry-After) and completes the orders it accepted
// in their usual time, instead of accepting everything, slowly, and finishing little. It bounds
// the creates running at once in this process (maxCreates), and the orders not yet ended across
// every replica, counted from the database (maxInFlight): accepted orders wait in the outbox, the
// brokers and the consumers, so that count is what an accepted order queues behind. A create
// waits up to slotWait for a slot; past the in-flight bound it is refused at once.
type admission struct {
	maxInFlight int64
	creates     chan struct{} // a slot per create running
	inFlight    atomic.Int64  // last counted, plus the orders this process created since
}

func newAdmission(maxCreates, maxInFlight int) *admission {
	return &admission{maxInFlight: int64(maxInFlight), creates: make(chan struct{}, maxCreates)}
}

// errOverloaded answers a create that admission refuses.
var errOverloaded = errs.New(errs.EUNAVAILABLE, "Too many orders in flight",
	"the system is carrying as many orders as it can finish in time; retry after Retry-After seconds")

// slotWait is how long a create waits for a slot before it is refused: a burst is absorbed, a
// sustained excess is refused while the client can still do something about it.
const slotWait = time.Second

// admit takes a create slot, or refuses; release gives the slot back.
func (a *admission) admit(ctx context.Context) (release func(), err error) {
	if a.inFlight.Load() >= a.maxInFlight {
		return nil, errOverloaded
	}
	select {
	case a.creates <- struct{}{}:
		return func() { <-a.creates }, nil
	default:
	}
	wait := time.NewTimer(slotWait)
	defer wait.Stop()
	select {
	case a.creates <- struct{}{}:
		return func() { <-a.creates }, nil
	case <-wait.C:
		return nil, errOverloaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// countEvery spaces the counts of orders in flight: between two, each order created here is added
// to the last count, so the bound overshoots by no more than the other replicas create meanwhile.
const countEvery = 100 * time.Millisecond

// RunAdmission counts the orders in flight, until ctx ends: at the start, then while any are,
// so that an idle process runs no query (a create here makes the count non-zero).
func (s *Service) RunAdmission(ctx context.Context) {
	count := func() {
		var n int64
		// Every order that has not ended has a step deadline, and the column is indexed.
		err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE step_deadline IS NOT NULL`).Scan(&n)
		switch {
		case err == nil:
			s.admission.inFlight.Store(n)
		case ctx.Err() == nil:
			s.log.Warn("counting the orders in flight failed", "err", err)
		}
	}
	count()
	t := time.NewTicker(countEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.admission.inFlight.Load() > 0 {
			count()
		}
	}
}
