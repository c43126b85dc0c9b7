package order

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// ErrTerminal is returned when cancelling an order that has already ended.
var ErrTerminal = errors.New("the order has already ended")

// CancelAnswer is the answer to a cancel request, as stored for replays.
type CancelAnswer struct {
	Body     api.CancelAccepted
	Replayed bool
}

// Cancel asks the saga to cancel an order: in any non-terminal status it starts undoing what was
// done, and the order ends CANCELLED. The request is idempotent under key, like create.
func (s *Service) Cancel(ctx context.Context, orderID, key string) (CancelAnswer, error) {
	// On PostgreSQL a cancel can lose a race to a request with the same key; it then runs again
	// and replays what won.
	for attempt := 1; ; attempt++ {
		out, err := s.cancel(ctx, orderID, key)
		if attempt < 5 && sqlstore.IsUniqueViolation(err) {
			continue
		}
		return out, err
	}
}

func (s *Service) cancel(ctx context.Context, orderID, key string) (CancelAnswer, error) {
	scope := "POST /orders/" + orderID + "/cancel"
	var out CancelAnswer
	err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		stored, err := s.recall(ctx, tx, scope, key, orderID)
		if err != nil {
			return err
		}
		if stored != nil {
			out.Replayed = true
			return json.Unmarshal(stored.body, &out.Body)
		}
		changed, err := s.step(ctx, tx, orderID, cancelRequested, nil, "")
		if err != nil {
			return err
		}
		row, err := loadSaga(ctx, tx, orderID)
		if err != nil {
			return err
		}
		o, st := row.order, row.state
		if !changed && st.Status.Terminal() {
			return ErrTerminal
		}
		out.Body = api.CancelAccepted{OrderId: uuid.MustParse(o.ID), Status: api.OrderStatus(st.Status)}
		return remember(tx, scope, key, orderID, http.StatusAccepted, out.Body, now())
	})
	return out, err
}
