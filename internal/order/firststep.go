package order

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// The saga's first step (PENDING to PAYMENT, sending ChargePayment) is taken by the process that
// created the order, in a batch transaction right after the create commits. Consuming the order's
// own OrderCreated back from Kafka instead would cost a whole hop (outbox, relay, broker, consumer)
// and a consumer transaction per batch; taking it in the create transaction would make the create
// more than one round trip. The order is still accepted as PENDING.
//
// Nothing depends on this process living: a PENDING order carries a step deadline like every other
// step, so the deadline watch takes the step for an order whose process died first, and a process
// starting up takes it at once for every order it finds PENDING.

// firstStepBatch bounds the orders one first-step transaction advances.
const firstStepBatch = 128

// maxQueuedFirstSteps bounds the queue; orders beyond it are left to their deadlines.
const maxQueuedFirstSteps = 100_000

// firstSteps is the queue of orders created here whose first step has not been taken yet.
type firstSteps struct {
	mu   sync.Mutex
	ids  []string
	wake chan struct{} // capacity 1: a pending wake-up
}

func newFirstSteps() *firstSteps { return &firstSteps{wake: make(chan struct{}, 1)} }

func (q *firstSteps) add(ids ...string) {
	q.mu.Lock()
	room := max(0, maxQueuedFirstSteps-len(q.ids))
	q.ids = append(q.ids, ids[:min(len(ids), room)]...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *firstSteps) take(n int) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ids[:min(n, len(q.ids))]
	q.ids = q.ids[len(out):]
	return out
}

// RunFirstSteps takes the first saga step of the orders created in this process, as they commit,
// until ctx ends. It first queues every order it finds PENDING, which a process that died left
// behind.
func (s *Service) RunFirstSteps(ctx context.Context) {
	if err := s.queuePending(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("reading PENDING orders failed; their deadlines will start them", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.firstSteps.wake:
		}
		for ids := s.firstSteps.take(firstStepBatch); len(ids) > 0; ids = s.firstSteps.take(firstStepBatch) {
			if err := s.takeFirstSteps(ctx, ids); err != nil && ctx.Err() == nil {
				s.log.Warn("first saga steps failed; their deadlines will take them", "orders", len(ids), "err", err)
			}
		}
	}
}

func (s *Service) queuePending(ctx context.Context) error {
	ids, err := s.orderIDs(ctx, `SELECT id FROM orders WHERE status = $1`, string(Pending))
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		s.log.Info("starting sagas left PENDING", "orders", len(ids))
		s.firstSteps.add(ids...)
	}
	return nil
}

// takeFirstSteps applies OrderCreated to each of ids in one transaction, retried briefly: an order
// that has moved on already (its deadline took the step, or it was cancelled) is left as it is.
func (s *Service) takeFirstSteps(ctx context.Context, ids []string) error {
	backoff := retry.WithMaxRetries(3, retry.NewExponential(100*time.Millisecond))
	return retry.Do(ctx, backoff, func(ctx context.Context) error {
		err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
			sg, err := readSagas(ctx, tx, ids, nil)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := s.step(ctx, tx, sg[id], events.OrderCreatedType, nil, ""); err != nil &&
					!errors.Is(err, ErrNotFound) {
					return err
				}
			}
			return nil
		})
		return retry.RetryableError(err)
	})
}
