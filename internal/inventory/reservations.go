package inventory

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Reservation is what the service holds, held or refused for an order.
type Reservation struct {
	ID, OrderID string
	Status      string // RESERVED, REJECTED, RELEASED or CONSUMED
	// RejectedSKU and RejectReason say which SKU a REJECTED reservation could not hold, and why.
	RejectedSKU, RejectReason string
	Lines                     []ReservedLine
	CreatedAt                 time.Time
}

// ReservedLine is one SKU of a reservation.
type ReservedLine struct {
	SKU      string
	Quantity decimal.Decimal
}

// ReservationsOf lists the order's reservation (zero or one).
func (s *Service) ReservationsOf(ctx context.Context, orderID string) ([]Reservation, error) {
	var rejectSKU, rejectReason sql.NullString
	out, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (res Reservation, err error) {
		err = r.Scan(&res.ID, &res.OrderID, &res.Status, &rejectSKU, &rejectReason, &res.CreatedAt)
		res.RejectedSKU, res.RejectReason = rejectSKU.String, rejectReason.String
		return res, err
	}, `SELECT id, order_id, status, reject_sku, reject_reason, created_at FROM reservations WHERE order_id = $1`, orderID)
	if err != nil {
		return nil, fmt.Errorf("reservation of %s: %w", orderID, err)
	}
	for i := range out {
		out[i].Lines, err = sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (l ReservedLine, err error) {
			var q string
			if err = r.Scan(&l.SKU, &q); err == nil {
				l.Quantity, err = decimal.NewFromString(q)
			}
			return l, err
		}, `SELECT sku, quantity FROM reservation_lines WHERE reservation_id = $1 ORDER BY sku`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("reservation lines of %s: %w", orderID, err)
		}
	}
	return out, nil
}
