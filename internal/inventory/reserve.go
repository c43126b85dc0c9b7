package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// want is one SKU of a reservation: the order's lines of that SKU, summed.
type want struct {
	sku   string
	milli int64
	// huge marks a quantity whose thousandths do not fit in an int64: no stock level can
	// satisfy it, so it is rejected without asking the database.
	huge bool
}

// wanted merges an order's lines by SKU (an order may list one SKU on several lines) and sorts
// them by SKU, so that every transaction locks stock rows in the same order. A line that no sender
// should ever produce (no SKU, a quantity that is not positive or has more than QuantityDigits
// fraction digits) is an error: the command is invalid and retrying cannot help.
func wanted(lines []events.Line) ([]want, error) {
	sums := map[string]decimal.Decimal{}
	for i, l := range lines {
		switch {
		case l.SKU == "":
			return nil, fmt.Errorf("lines[%d]: no SKU", i)
		case !l.Quantity.IsPositive():
			return nil, fmt.Errorf("lines[%d]: quantity %s is not positive", i, l.Quantity)
		case !l.Quantity.Shift(QuantityDigits).IsInteger():
			return nil, fmt.Errorf("lines[%d]: quantity %s has more than %d fraction digits", i, l.Quantity, QuantityDigits)
		}
		sums[l.SKU] = sums[l.SKU].Add(l.Quantity)
	}
	out := make([]want, 0, len(sums))
	for sku, q := range sums {
		m, err := toMilli(q)
		out = append(out, want{sku: sku, milli: m, huge: err != nil})
	}
	slices.SortFunc(out, func(a, b want) int { return strings.Compare(a.sku, b.sku) })
	return out, nil
}

// reserve takes every line of the order from available into reserved, or none of them, once per
// order. A repeated command answers as the first did, from the order's reservation, which the
// batch has locked. The reservation's insert is plain: should two transactions reserve for one
// order at once (two replicas during a rebalance), its unique order_id fails one commit, and that
// record's retry answers from the other's reservation.
func (s *Service) reserve(ctx context.Context, tx *sqlstore.Tx, cmd *events.ReserveStock) error {
	lines, err := wanted(cmd.Lines)
	if err != nil {
		return messaging.Permanent(fmt.Errorf("reserve %s: %w", cmd.OrderID, err))
	}
	r, err := reservationOf(ctx, tx, cmd.OrderID)
	if err != nil {
		return fmt.Errorf("reserve %s: %w", cmd.OrderID, err)
	}
	if r != nil {
		return s.answerAgain(ctx, tx, cmd.OrderID, r)
	}
	now := time.Now().UTC()
	r = &reservation{id: uuid.NewString(), status: StatusReserved}
	for i, l := range lines {
		reason, err := take(ctx, tx, l, now)
		if err != nil {
			return fmt.Errorf("reserve %s: %w", cmd.OrderID, err)
		}
		if reason == "" {
			continue
		}
		// All or none: give back what this command took before the short line.
		for _, done := range lines[:i] {
			if err := giveBack(ctx, tx, done.sku, done.milli, now); err != nil {
				return fmt.Errorf("reserve %s: undo: %w", cmd.OrderID, err)
			}
		}
		r.status, r.rejectSKU, r.rejectReason = StatusRejected, l.sku, reason
		break
	}
	reservationsOf(tx)[cmd.OrderID] = r
	if r.status == StatusRejected {
		tx.InsertLater("reservations", reservationColumns, r.id, cmd.OrderID, r.status, r.rejectSKU, r.rejectReason, now, now)
		s.log.Info("stock rejected", "order_id", cmd.OrderID, "sku", r.rejectSKU, "reason", r.rejectReason)
		return s.reply(ctx, tx, cmd.OrderID, events.StockRejected{OrderID: cmd.OrderID, SKU: r.rejectSKU, Reason: r.rejectReason})
	}
	tx.InsertLater("reservations", reservationColumns, r.id, cmd.OrderID, r.status, nil, nil, now, now)
	for _, l := range lines {
		r.lines = append(r.lines, held{sku: l.sku, milli: l.milli})
		// A statement of its own, not a row of a multi-row insert: that insert may have begun
		// before this reservation's (a release's update of reservations between them starts a
		// new one), and its rows would then run ahead of the reservation they refer to.
		tx.ExecLater("reservation_lines", `INSERT INTO reservation_lines (reservation_id, order_id, sku, quantity, quantity_milli)
			VALUES ($1, $2, $3, $4, $5)`, r.id, cmd.OrderID, l.sku, fromMilli(l.milli).String(), l.milli)
	}
	return s.reply(ctx, tx, cmd.OrderID, events.StockReserved{OrderID: cmd.OrderID, ReservationID: r.id})
}

// take moves l's quantity from available to reserved if that much is available, and otherwise
// says why not. The row is locked (see stockOf), so the level it was read at still holds when
// the queued update runs, and concurrent reservations cannot oversell.
func take(ctx context.Context, tx *sqlstore.Tx, l want, now time.Time) (short string, err error) {
	st, err := stockOf(ctx, tx, l.sku)
	switch {
	case err != nil:
		return "", err
	case !st.exists:
		return ReasonUnknownSKU, nil
	case l.huge || st.available < l.milli:
		return ReasonInsufficientStock, nil
	}
	st.available -= l.milli
	levelsOf(tx)[l.sku] = st
	tx.ExecLater("stock", `UPDATE stock
		SET available_milli = available_milli - $2, reserved_milli = reserved_milli + $2, updated_at = $3
		WHERE sku = $1`, l.sku, l.milli, now)
	return "", nil
}

// giveBack moves milli thousandths of sku from reserved back to available.
func giveBack(ctx context.Context, tx *sqlstore.Tx, sku string, milli int64, now time.Time) error {
	st, err := heldStock(ctx, tx, sku)
	if err != nil {
		return err
	}
	st.available += milli
	levelsOf(tx)[sku] = st
	tx.ExecLater("stock", `UPDATE stock
		SET available_milli = available_milli + $2, reserved_milli = reserved_milli - $2, updated_at = $3
		WHERE sku = $1`, sku, milli, now)
	return nil
}

// shipOut removes milli thousandths of sku from reserved: they have left with the order.
func shipOut(ctx context.Context, tx *sqlstore.Tx, sku string, milli int64, now time.Time) error {
	if _, err := heldStock(ctx, tx, sku); err != nil {
		return err
	}
	tx.ExecLater("stock", `UPDATE stock SET reserved_milli = reserved_milli - $2, updated_at = $3
		WHERE sku = $1`, sku, milli, now)
	return nil
}

// heldStock returns the stock row of a SKU that a reservation holds.
func heldStock(ctx context.Context, tx *sqlstore.Tx, sku string) (level, error) {
	st, err := stockOf(ctx, tx, sku)
	if err == nil && !st.exists {
		// Stock rows are never deleted; a reservation of a SKU that has none is a bug.
		err = messaging.Permanent(fmt.Errorf("stock %s: no such SKU, though a reservation holds it", sku))
	}
	return st, err
}

// answerAgain answers a repeated ReserveStock from the recorded reservation, changing nothing.
func (s *Service) answerAgain(ctx context.Context, tx *sqlstore.Tx, orderID string, r *reservation) error {
	switch r.status {
	case StatusReserved, StatusConsumed:
		return s.reply(ctx, tx, orderID, events.StockReserved{OrderID: orderID, ReservationID: r.id})
	case StatusRejected:
		return s.reply(ctx, tx, orderID, events.StockRejected{OrderID: orderID, SKU: r.rejectSKU, Reason: r.rejectReason})
	case StatusReleased:
		// The saga has compensated this order already (a late or replayed command): nothing is
		// held for it, and nothing will be.
		return s.reply(ctx, tx, orderID, events.StockReleased{OrderID: orderID})
	default:
		return messaging.Permanent(fmt.Errorf("reserve %s: reservation %s has unknown status %q", orderID, r.id, r.status))
	}
}

// settle moves the order's reservation from RESERVED to status and returns the lines it held;
// found is false when the order has no RESERVED reservation. The reservation is locked, so
// release and consumption exclude each other: on PostgreSQL the second waits for the first to
// commit and then finds the status changed.
func settle(ctx context.Context, tx *sqlstore.Tx, orderID, status string, now time.Time) (lines []held, found bool, err error) {
	r, err := reservationOf(ctx, tx, orderID)
	if err != nil || r == nil || r.status != StatusReserved {
		return nil, false, err
	}
	r.status = status
	tx.ExecLater("reservations", `UPDATE reservations SET status = $2, updated_at = $3 WHERE id = $1`, r.id, status, now)
	return r.lines, true, nil
}

// release gives a RESERVED reservation's stock back and answers StockReleased. Whatever else
// the order has (nothing, a rejection, a release already done) it answers StockReleased too, so
// that compensation always completes. An order with no reservation gets a RELEASED one with no
// lines, so a ReserveStock arriving after its compensation (replayed from a dead-letter topic,
// say) cannot hold stock for an order that is over.
func (s *Service) release(ctx context.Context, tx *sqlstore.Tx, cmd *events.ReleaseStock) error {
	now := time.Now().UTC()
	lines, found, err := settle(ctx, tx, cmd.OrderID, StatusReleased, now)
	if err != nil {
		return fmt.Errorf("release %s: %w", cmd.OrderID, err)
	}
	for _, l := range lines {
		if err := giveBack(ctx, tx, l.sku, l.milli, now); err != nil {
			return fmt.Errorf("release %s: %w", cmd.OrderID, err)
		}
	}
	if !found {
		r, err := reservationOf(ctx, tx, cmd.OrderID)
		switch {
		case err != nil:
			return fmt.Errorf("release %s: %w", cmd.OrderID, err)
		case r == nil:
			r = &reservation{id: uuid.NewString(), status: StatusReleased}
			reservationsOf(tx)[cmd.OrderID] = r
			tx.InsertLater("reservations", reservationColumns, r.id, cmd.OrderID, r.status, nil, nil, now, now)
		case r.status == StatusConsumed:
			s.log.Warn("release of stock already consumed by the completed order; nothing released",
				"order_id", cmd.OrderID)
		}
	}
	return s.reply(ctx, tx, cmd.OrderID, events.StockReleased{OrderID: cmd.OrderID})
}

// consume turns a completed order's RESERVED reservation into CONSUMED: what it held leaves
// reserved for good. A repeated completion changes nothing.
func (s *Service) consume(ctx context.Context, tx *sqlstore.Tx, orderID string) error {
	now := time.Now().UTC()
	lines, found, err := settle(ctx, tx, orderID, StatusConsumed, now)
	if err != nil {
		return fmt.Errorf("consume %s: %w", orderID, err)
	}
	if found {
		for _, l := range lines {
			if err := shipOut(ctx, tx, l.sku, l.milli, now); err != nil {
				return fmt.Errorf("consume %s: %w", orderID, err)
			}
		}
		return nil
	}
	r, err := reservationOf(ctx, tx, orderID)
	if err != nil {
		return fmt.Errorf("consume %s: %w", orderID, err)
	}
	if r == nil || r.status != StatusConsumed {
		status := ""
		if r != nil {
			status = r.status
		}
		s.log.Warn("order completed without a held reservation; nothing consumed",
			"order_id", orderID, "reservation_status", status)
	}
	return nil
}

// reply puts the answer to a command in the outbox, in the command's transaction.
func (s *Service) reply(ctx context.Context, tx *sqlstore.Tx, orderID string, p events.Payload) error {
	msg, err := events.New(Name, orderID, p)
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, msg)
}
