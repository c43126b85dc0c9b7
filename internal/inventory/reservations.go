package inventory

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// reservation is what a transaction knows of an order's reservation: the row, which it has
// locked, and the lines it holds. A nil *reservation in the map means the order has none.
type reservation struct {
	id, status              string
	rejectSKU, rejectReason string
	lines                   []held // by SKU, the order in which stock rows are locked
}

// held is one line a reservation holds.
type held struct {
	sku   string
	milli int64
}

// reservations are the reservations of a transaction's orders, by order id. Its handlers decide
// against them, keep them up to date, and queue their writes, like the stock levels: the batch's
// reservations cost no round trip of their own while its stock rows are locked.
type reservations map[string]*reservation

type reservationsKey struct{}

func reservationsOf(tx *sqlstore.Tx) reservations {
	rs, _ := tx.Value(reservationsKey{}).(reservations)
	if rs == nil {
		rs = reservations{}
		tx.SetValue(reservationsKey{}, rs)
	}
	return rs
}

// readReservations gives the reads that lock the reservations of orders and read the lines they
// hold, recording in the transaction which orders have none. A reservation that another
// transaction is inserting is not there to lock; the unique order_id makes the later commit fail
// and its records retry.
func readReservations(tx *sqlstore.Tx, orders []string) []sqlstore.Read {
	if len(orders) == 0 {
		return nil
	}
	rs := reservationsOf(tx)
	for _, o := range orders {
		rs[o] = nil
	}
	in, args := tx.In(0, orders)
	return []sqlstore.Read{{
		Query: `SELECT order_id, id, status, reject_sku, reject_reason FROM reservations WHERE order_id ` + in +
			tx.LockInOrder("order_id"),
		Args: args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var order string
				var r reservation
				var sku, reason sql.NullString
				if err := rows.Scan(&order, &r.id, &r.status, &sku, &reason); err != nil {
					return err
				}
				r.rejectSKU, r.rejectReason = sku.String, reason.String
				rs[order] = &r
			}
			return rows.Err()
		},
	}, {
		// Lines written before stock was tracked have no quantity_milli; they held no stock.
		Query: `SELECT order_id, sku, quantity_milli FROM reservation_lines
			WHERE order_id ` + in + ` AND quantity_milli IS NOT NULL`,
		Args: args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var order string
				var h held
				if err := rows.Scan(&order, &h.sku, &h.milli); err != nil {
					return err
				}
				if r := rs[order]; r != nil {
					r.lines = append(r.lines, h)
				}
			}
			for _, r := range rs {
				if r != nil {
					slices.SortFunc(r.lines, func(a, b held) int { return strings.Compare(a.sku, b.sku) })
				}
			}
			return rows.Err()
		},
	}}
}

// reservationOf returns the order's reservation as tx has locked it (nil: it has none), from the
// batch's reads when they covered the order, else reading it now.
func reservationOf(ctx context.Context, tx *sqlstore.Tx, orderID string) (*reservation, error) {
	rs := reservationsOf(tx)
	if r, ok := rs[orderID]; ok {
		return r, nil
	}
	if err := tx.QueryAll(ctx, readReservations(tx, []string{orderID})...); err != nil {
		return nil, fmt.Errorf("reservation of %s: %w", orderID, err)
	}
	return rs[orderID], nil
}

var reservationColumns = []string{"id", "order_id", "status", "reject_sku", "reject_reason", "created_at", "updated_at"}
