package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// reserve takes every line of the order from available into reserved, or none of them, once per
// order. A repeated command answers as the first did, from the order's reservation, which the
// batch has locked. The reservation's insert is plain: should two transactions reserve for one
// order at once (two replicas during a rebalance), its unique order_id fails one commit, and that
// record's retry answers from the other's reservation.
func (s *Service) reserve(ctx context.Context, tx *sqlstore.Tx, b *batch, cmd *events.ReserveStock) error {
	lines, err := wanted(cmd.Lines)
	if err != nil {
		return messaging.Permanent(fmt.Errorf("reserve %s: %w", cmd.OrderID, err))
	}
	r := b.reservations[cmd.OrderID]
	if r == nil {
		r = s.newReservation(tx, b, cmd.OrderID, lines, time.Now().UTC())
	}
	reply, ok := answer(cmd.OrderID, r)
	if !ok {
		return messaging.Permanent(fmt.Errorf("reserve %s: reservation %s has unknown status %q", cmd.OrderID, r.id, r.status))
	}
	return s.outbox.Send(ctx, tx, Name, cmd.OrderID, reply)
}

// newReservation decides and records the order's reservation: its lines held, or the line that
// could not be.
func (s *Service) newReservation(tx *sqlstore.Tx, b *batch, orderID string, lines []want, now time.Time) *reservation {
	r := &reservation{id: uuid.NewString(), status: StatusReserved}
	b.reservations[orderID] = r
	if sku, reason := shortLine(b.levels, lines); reason != "" {
		r.status, r.rejectSKU, r.rejectReason = StatusRejected, sku, reason
		tx.InsertLater("reservations", reservationColumns, r.id, orderID, r.status, r.rejectSKU, r.rejectReason, now, now)
		s.log.Info("stock rejected", "order_id", orderID, "sku", r.rejectSKU, "reason", r.rejectReason)
		return r
	}
	tx.InsertLater("reservations", reservationColumns, r.id, orderID, r.status, nil, nil, now, now)
	for _, l := range lines {
		b.move(tx, l.sku, -l.milli, l.milli, now)
		r.lines = append(r.lines, held{sku: l.sku, milli: l.milli})
		// A statement of its own, not a row of a multi-row insert: that insert may have begun
		// before this reservation's (a release's update of reservations between them starts a
		// new one), and its rows would then run ahead of the reservation they refer to.
		tx.ExecLater("reservation_lines", `INSERT INTO reservation_lines (reservation_id, order_id, sku, quantity, quantity_milli)
			VALUES ($1, $2, $3, $4, $5)`, r.id, orderID, l.sku, fromMilli(l.milli).String(), l.milli)
	}
	return r
}

var reservationColumns = []string{"id", "order_id", "status", "reject_sku", "reject_reason", "created_at", "updated_at"}

// move adds available and reserved thousandths to sku's stock row, which the batch has locked,
// so the level it was read at still holds when the queued update runs, and concurrent
// reservations cannot oversell.
func (b *batch) move(tx *sqlstore.Tx, sku string, available, reserved int64, now time.Time) {
	st := b.levels[sku]
	st.available += available
	b.levels[sku] = st
	tx.ExecLater("stock", `UPDATE stock
		SET available_milli = available_milli + $2, reserved_milli = reserved_milli + $3, updated_at = $4
		WHERE sku = $1`, sku, available, reserved, now)
}

// settle moves the order's reservation from RESERVED to status and gives each line it held to
// move (lines go back to available, or leave with the order); found is false when the order has
// no RESERVED reservation. The reservation is locked, so release and consumption exclude each
// other: on PostgreSQL the second waits for the first to commit and then finds the status changed.
func (b *batch) settle(tx *sqlstore.Tx, orderID, status string, now time.Time, move func(held)) (found bool, err error) {
	r := b.reservations[orderID]
	if r == nil || r.status != StatusReserved {
		return false, nil
	}
	for _, l := range r.lines {
		if !b.levels[l.sku].exists {
			// Stock rows are never deleted; a reservation of a SKU that has none is a bug.
			return false, messaging.Permanent(fmt.Errorf("stock %s: no such SKU, though a reservation holds it", l.sku))
		}
	}
	r.status = status
	tx.ExecLater("reservations", `UPDATE reservations SET status = $2, updated_at = $3 WHERE id = $1`, r.id, status, now)
	for _, l := range r.lines {
		move(l)
	}
	return true, nil
}

// release gives a RESERVED reservation's stock back and answers StockReleased. Whatever else
// the order has (nothing, a rejection, a release already done) it answers StockReleased too, so
// that compensation always completes. An order with no reservation gets a RELEASED one with no
// lines, so a ReserveStock arriving after its compensation (replayed from a dead-letter topic,
// say) cannot hold stock for an order that is over.
func (s *Service) release(ctx context.Context, tx *sqlstore.Tx, b *batch, cmd *events.ReleaseStock) error {
	now := time.Now().UTC()
	found, err := b.settle(tx, cmd.OrderID, StatusReleased, now, func(l held) {
		b.move(tx, l.sku, l.milli, -l.milli, now)
	})
	if err != nil {
		return fmt.Errorf("release %s: %w", cmd.OrderID, err)
	}
	if !found {
		switch r := b.reservations[cmd.OrderID]; {
		case r == nil:
			r = &reservation{id: uuid.NewString(), status: StatusReleased}
			b.reservations[cmd.OrderID] = r
			tx.InsertLater("reservations", reservationColumns, r.id, cmd.OrderID, r.status, nil, nil, now, now)
		case r.status == StatusConsumed:
			s.log.Warn("release of stock already consumed by the completed order; nothing released",
				"order_id", cmd.OrderID)
		}
	}
	return s.outbox.Send(ctx, tx, Name, cmd.OrderID, events.StockReleased{OrderID: cmd.OrderID})
}

// consume turns a completed order's RESERVED reservation into CONSUMED: what it held leaves
// reserved for good. A repeated completion changes nothing.
func (s *Service) consume(tx *sqlstore.Tx, b *batch, orderID string) error {
	now := time.Now().UTC()
	found, err := b.settle(tx, orderID, StatusConsumed, now, func(l held) {
		b.move(tx, l.sku, 0, -l.milli, now)
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", orderID, err)
	}
	if r := b.reservations[orderID]; !found && (r == nil || r.status != StatusConsumed) {
		status := ""
		if r != nil {
			status = r.status
		}
		s.log.Warn("order completed without a held reservation; nothing consumed",
			"order_id", orderID, "reservation_status", status)
	}
	return nil
}
