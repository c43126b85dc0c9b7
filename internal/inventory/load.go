package inventory

import (
	"database/sql"
	"slices"
	"strings"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// batch is what a transaction has locked and read for its batch of commands and completions: the
// stock rows they touch and the reservations of their orders. Its handlers decide against it,
// keep it up to date, and queue their writes to go with the commit, so that a batch's stock
// changes cost no round trip of their own.
type batch struct {
	levels       map[string]level        // by SKU; missing or zero: no such SKU
	reservations map[string]*reservation // by order id; nil: the order has none
}

// level is what a transaction knows of a SKU's stock row, which it has locked.
type level struct {
	exists    bool
	available int64 // thousandths
}

// reservation is what a transaction knows of an order's reservation: the row, which it has
// locked, and the lines it holds.
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

// load locks and reads what a batch will update: the stock rows of the SKUs a reservation asks
// for and of those the reservations of released or completed orders hold, then the reservations
// of all its orders (stock rows first, in every transaction, so that two cannot deadlock). A
// reservation that another transaction is inserting is not there to lock; the unique order_id
// makes the later commit fail and its records retry.
func load(tx *sqlstore.Tx, todo []messaging.Event) (*batch, []sqlstore.Read) {
	var skus []string
	var settled []string // orders whose reservations hold stock to give back or ship
	var reserving []string
	for _, e := range todo {
		switch p := e.Payload.(type) {
		case *events.ReserveStock:
			for _, l := range p.Lines {
				skus = append(skus, l.SKU)
			}
			reserving = append(reserving, p.OrderID)
		case *events.ReleaseStock:
			settled = append(settled, p.OrderID)
		case *events.OrderCompleted:
			settled = append(settled, p.OrderID)
		}
	}
	b := &batch{levels: map[string]level{}, reservations: map[string]*reservation{}}
	skuIn, args := tx.In(0, skus)
	orderIn, orderArgs := tx.In(len(args), settled)
	reads := []sqlstore.Read{{
		Query: `SELECT sku, available_milli FROM stock WHERE sku ` + skuIn + ` OR sku IN (SELECT sku
			FROM reservation_lines WHERE order_id ` + orderIn + `)` +
			tx.LockInOrder("sku"),
		Args: append(args, orderArgs...),
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var sku string
				l := level{exists: true}
				if err := rows.Scan(&sku, &l.available); err != nil {
					return err
				}
				b.levels[sku] = l
			}
			return rows.Err()
		},
	}}
	orders := append(reserving, settled...)
	if len(orders) == 0 {
		return b, reads
	}
	in, args := tx.In(0, orders)
	return b, append(reads, sqlstore.Read{
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
				b.reservations[order] = &r
			}
			return rows.Err()
		},
	}, sqlstore.Read{
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
				if r := b.reservations[order]; r != nil {
					r.lines = append(r.lines, h)
				}
			}
			for _, r := range b.reservations {
				slices.SortFunc(r.lines, func(a, b held) int { return strings.Compare(a.sku, b.sku) })
			}
			return rows.Err()
		},
	})
}
