package order

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// ErrTerminal is returned when cancelling an order that has already ended.
var ErrTerminal = errs.New(errs.ECONFLICT, "The order has already ended",
	"only an order that has not reached COMPLETED, FAILED or CANCELLED can be cancelled")

// CancelAnswer is the answer to a cancel request.
type CancelAnswer struct {
	Body     CancelAccepted
	Replayed bool
}

// CancelAccepted is what a cancel request answers, stored as JSON for replays like Created (the
// API's CancelAccepted).
type CancelAccepted struct {
	OrderID uuid.UUID `json:"orderId"`
	Status  Status    `json:"status"`
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
	scope := keyScope(ctx, "POST /orders/"+orderID+"/cancel")
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
		sg, err := readSagas(ctx, tx, []string{orderID}, nil)
		if err != nil {
			return err
		}
		row := sg[orderID]
		changed, err := s.step(ctx, tx, row, cancelRequested, nil, "")
		if err != nil {
			return err
		}
		o, st := row.order, row.state
		if !changed && st.Status.Terminal() {
			return ErrTerminal
		}
		out.Body = CancelAccepted{OrderID: uuid.MustParse(o.ID), Status: st.Status}
		return remember(tx, scope, key, orderID, acceptedCode, out.Body, now())
	})
	return out, err
}
