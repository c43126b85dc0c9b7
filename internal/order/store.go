package order

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// insertOrder queues a new order, its items and its first history entry. deadline is when its
// first saga step is overdue (nil for none).
func insertOrder(q *sqlstore.Tx, o *Order, deadline any) {
	a := o.Address
	q.ExecLater("orders", `INSERT INTO orders (id, customer_id, status, currency, total_amount,
		ship_country, ship_city, ship_line1, ship_line2, ship_postal, created_at, updated_at, step_deadline,
		traceparent, tracestate)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)`,
		o.ID, o.CustomerID, string(o.Status), o.Currency, o.Total.String(),
		a.Country, a.City, a.AddressLine1, a.AddressLine2, a.PostalCode, o.CreatedAt, deadline,
		o.TraceParent, o.TraceState)
	for i, it := range o.Items {
		q.InsertLater("order_items", itemColumns, o.ID, i+1, it.SKU, it.Quantity.String(), it.UnitPrice.String(),
			lineTotal(it.Quantity, it.UnitPrice).String())
	}
	addHistory(q, o.ID, 1, o.Status, "", o.CreatedAt)
}

var itemColumns = []string{"order_id", "line", "sku", "quantity", "unit_price", "line_total"}

var historyColumns = []string{"order_id", "seq", "status", "reason", "at"}

// addHistory records a status of the order, written when tx commits. seq orders the entries:
// the created status is 1, and a saga step moving the order from version v to v+1 uses 2v+2 and
// 2v+3 (it records at most two entries). That is above every seq the order already has, even
// rows written when seq was dense, since an order at version v has at most 2v+1 entries.
func addHistory(tx *sqlstore.Tx, orderID string, seq int64, s Status, reason string, at time.Time) {
	tx.InsertLater("order_history", historyColumns, orderID, seq, string(s), reason, at)
}

// sagaColumns are what loadSagas reads of an order.
const sagaColumns = orderColumns + `, version, charged, reserved, refund_pending,
	release_pending, cancel_pending, outcome, outcome_reason, step_attempts, step_deadline`

// sagaRow is an order as the saga sees it, with its version.
type sagaRow struct {
	order    *Order
	state    sagaState
	version  int64
	deadline sql.NullTime // when the current step is overdue
	// items are known when the batch read them (see loadSagas).
	items      []Item
	itemsKnown bool
}

func scanSaga(row sqlstore.Scanner) (*sagaRow, error) {
	var r sagaRow
	var charged, reserved, refund, release, cancel int
	var outcome string
	var o Order
	var status, total string
	a := &o.Address
	st := &r.state
	if err := row.Scan(&o.ID, &o.CustomerID, &status, &o.FailureReason, &o.Currency, &total,
		&a.Country, &a.City, &a.AddressLine1, &a.AddressLine2, &a.PostalCode, &o.CreatedAt, &o.UpdatedAt,
		&o.TraceParent, &o.TraceState,
		&r.version, &charged, &reserved, &refund, &release, &cancel, &outcome, &st.OutcomeReason, &st.Attempts,
		&r.deadline); err != nil {
		return nil, err
	}
	var err error
	if o.Total, err = decimal.NewFromString(total); err != nil {
		return nil, fmt.Errorf("order %s total %q: %w", o.ID, total, err)
	}
	o.Status = Status(status)
	st.Status, st.Outcome, st.FailureReason = o.Status, Status(outcome), o.FailureReason
	st.Charged, st.Reserved, st.RefundPending, st.ReleasePending = charged == 1, reserved == 1, refund == 1, release == 1
	st.CancelPending = cancel == 1
	r.order = &o
	return &r, nil
}

// sagas are the orders a transaction has locked and read, by id (missing: no such order), kept
// up to date with the steps it takes, so that a second event of the same order in one batch
// decides against the first one's outcome.
type sagas map[string]*sagaRow

// loadSagas gives the reads that lock the orders in ids, in id order, and read their saga rows,
// and the items of those in withItems: a step that sends a command listing them (ReserveStock,
// CreateShipment) needs them.
func loadSagas(tx *sqlstore.Tx, ids, withItems []string) (sagas, []sqlstore.Read) {
	byID := make(sagas, len(ids))
	if len(ids) == 0 {
		return byID, nil
	}
	in, args := tx.In(0, ids)
	reads := []sqlstore.Read{{
		Query: `SELECT ` + sagaColumns + ` FROM orders WHERE id ` + in + tx.LockInOrder("id"),
		Args:  args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				r, err := scanSaga(rows)
				if err != nil {
					return fmt.Errorf("read orders: %w", err)
				}
				byID[r.order.ID] = r
			}
			return rows.Err()
		},
	}}
	if len(withItems) == 0 {
		return byID, reads
	}
	items := make(map[string][]Item, len(withItems))
	return byID, append(reads, itemsRead(tx, withItems, items, func() {
		for _, id := range withItems {
			if r := byID[id]; r != nil {
				r.items, r.itemsKnown = items[id], true
			}
		}
	}))
}

// readSagas runs loadSagas's reads now, for work outside a consumer's batch.
func readSagas(ctx context.Context, tx *sqlstore.Tx, ids, withItems []string) (sagas, error) {
	sg, reads := loadSagas(tx, ids, withItems)
	return sg, tx.QueryAll(ctx, reads...)
}

// save stores a saga step of an order that the transaction has locked, and records it in the
// history when the status changed or the step says something worth keeping. Nothing can have
// changed the row since it was read, so the update is queued with the commit rather than
// checked; the row in memory becomes what the update writes.
func (r *sagaRow) save(q *sqlstore.Tx, s sagaState, deadline sql.NullTime, at time.Time) {
	from, id, version := r.state.Status, r.order.ID, r.version
	if s.Status != Failed {
		s.FailureReason = ""
	}
	var due any
	if deadline.Valid {
		due = deadline.Time
	}
	q.ExecLater("orders", `UPDATE orders SET status = $1, failure_reason = $2, updated_at = $3,
		version = $12, charged = $4, reserved = $5, refund_pending = $6, release_pending = $7,
		outcome = $8, outcome_reason = $9, step_deadline = $10, step_attempts = $11, cancel_pending = $14
		WHERE id = $13`,
		string(s.Status), s.FailureReason, at, b2i(s.Charged), b2i(s.Reserved), b2i(s.RefundPending), b2i(s.ReleasePending),
		string(s.Outcome), s.OutcomeReason, due, s.Attempts, version+1, id, b2i(s.CancelPending))
	if s.UndoneTag != "" {
		addHistory(q, id, 2*version+2, from, s.UndoneTag, at)
	}
	if s.Status != from || s.HistoryReasonTag != "" {
		addHistory(q, id, 2*version+3, s.Status, s.HistoryReasonTag, at)
	}
	r.state, r.version, r.deadline = s, version+1, deadline
	r.order.Status, r.order.FailureReason, r.order.UpdatedAt = s.Status, s.FailureReason, at
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const orderColumns = `id, customer_id, status, failure_reason, currency, total_amount,
	ship_country, ship_city, ship_line1, ship_line2, ship_postal, created_at, updated_at, traceparent, tracestate`

// shownColumns are an order as Get and List read it: orderColumns, then what its step is read from.
const shownColumns = orderColumns + `, step_attempts, step_deadline, refund_pending, release_pending, cancel_pending`

// columnsOf is a column list qualified by a table alias.
func columnsOf(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// scanOrder reads shownColumns; maxAttempts is the service's StepAttempts, which the step shows.
func scanOrder(row interface{ Scan(...any) error }, maxAttempts int) (*Order, error) {
	var o Order
	var status, total string
	var st sagaState
	var refund, release, cancel int
	var deadline sql.NullTime
	a := &o.Address
	if err := row.Scan(&o.ID, &o.CustomerID, &status, &o.FailureReason, &o.Currency, &total,
		&a.Country, &a.City, &a.AddressLine1, &a.AddressLine2, &a.PostalCode, &o.CreatedAt, &o.UpdatedAt,
		&o.TraceParent, &o.TraceState, &st.Attempts, &deadline, &refund, &release, &cancel); err != nil {
		return nil, err
	}
	o.Status = Status(status)
	var err error
	if o.Total, err = decimal.NewFromString(total); err != nil {
		return nil, fmt.Errorf("order %s total %q: %w", o.ID, total, err)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	// Every order that has not ended has a deadline (see Service.step).
	if deadline.Valid && !o.Status.Terminal() {
		st.Status, st.RefundPending, st.ReleasePending, st.CancelPending = o.Status, refund == 1, release == 1, cancel == 1
		o.Step = &Step{Attempts: st.Attempts, MaxAttempts: maxAttempts, Deadline: deadline.Time.UTC(), WaitingFor: awaiting(st)}
	}
	return &o, nil
}

// itemsRead reads the items of the orders in ids into items, each order's in line order, and then
// calls done.
func itemsRead(tx *sqlstore.Tx, ids []string, items map[string][]Item, done func()) sqlstore.Read {
	in, args := tx.In(0, ids)
	return sqlstore.Read{
		Query: `SELECT order_id, sku, quantity, unit_price FROM order_items WHERE order_id ` + in + ` ORDER BY order_id, line`,
		Args:  args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var id, qty, price string
				var it Item
				if err := rows.Scan(&id, &it.SKU, &qty, &price); err != nil {
					return fmt.Errorf("read items: %w", err)
				}
				var err1, err2 error
				it.Quantity, err1 = decimal.NewFromString(qty)
				it.UnitPrice, err2 = decimal.NewFromString(price)
				if err := errors.Join(err1, err2); err != nil {
					return fmt.Errorf("order %s items: %w", id, err)
				}
				items[id] = append(items[id], it)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read items: %w", err)
			}
			done()
			return nil
		},
	}
}

// Filter selects orders to list; zero fields match everything.
type Filter struct {
	CustomerID string
	Status     Status
	// CreatedBefore keeps the orders created before it.
	CreatedBefore time.Time
	// Stuck keeps the orders that have not ended and are past their step's deadline or were
	// created more than OlderThan ago (0: DefaultOlderThan).
	Stuck      bool
	OlderThan  time.Duration
	Page, Size int
}

// DefaultOlderThan is the age past which an order that has not ended is stuck, within its step's
// deadline or not.
const DefaultOlderThan = 5 * time.Minute

// where is f as a WHERE clause and its arguments, at instant at. Only the conditions f sets are in
// it, so that each can use its index (orders_customer, orders_status, orders_created): one written
// to match everything when its argument is empty can use none, and a customer's count read the
// whole table (220 ms at a million orders on SQLite, 1 ms now). The stuck
// condition starts with step_deadline IS NOT NULL: that is the condition of the partial index
// orders_in_flight, so that it reads the orders in flight, however many have ended (see its
// migration).
func (f Filter) where(at time.Time) (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.CustomerID != "" {
		conds = append(conds, "customer_id = "+arg(f.CustomerID))
	}
	if f.Status != "" {
		conds = append(conds, "status = "+arg(string(f.Status)))
	}
	if !f.CreatedBefore.IsZero() {
		conds = append(conds, "created_at < "+arg(f.CreatedBefore.UTC()))
	}
	if f.Stuck {
		olderThan := cmp.Or(f.OlderThan, DefaultOlderThan)
		conds = append(conds, "step_deadline IS NOT NULL AND (step_deadline < "+arg(at.UTC())+
			" OR created_at < "+arg(at.UTC().Add(-olderThan))+")")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// getOrder reads an order with its items and history in one statement: one round trip on
// PostgreSQL instead of three, and one snapshot, so the history always holds the order's status.
// Each row is a kind (0 item, 1 history entry) and a number, the order's columns, and the item or
// history entry. The history comes first, so that SQLite takes the type of the last column (a
// timestamp) from order_history.at. Every order has a history entry from the moment it is
// created, so no rows means no order.
var getOrder = `SELECT 1, h.seq, ` + columnsOf("o", shownColumns) + `, h.status, h.reason, '', h.at
	FROM orders o JOIN order_history h ON h.order_id = o.id WHERE o.id = $1
	UNION ALL
	SELECT 0, i.line, ` + columnsOf("o", shownColumns) + `, i.sku, i.quantity, i.unit_price, NULL
	FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = $1
	ORDER BY 1, 2`

// Get returns one order with its items and history.
func (s *Service) Get(ctx context.Context, id string) (*Order, error) {
	rows, err := s.db.QueryContext(ctx, getOrder, id)
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	defer rows.Close()
	var o *Order
	for rows.Next() {
		var kind, n int64
		var a, b, c string
		var at sql.NullTime
		row, err := scanOrder(scanFunc(func(dest ...any) error {
			return rows.Scan(append(append([]any{&kind, &n}, dest...), &a, &b, &c, &at)...)
		}), s.StepAttempts)
		if err != nil {
			return nil, fmt.Errorf("read order: %w", err)
		}
		if o == nil {
			o = row
		}
		if kind == 0 {
			qty, err1 := decimal.NewFromString(b)
			price, err2 := decimal.NewFromString(c)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("order %s line %d: %w", id, n, err)
			}
			o.Items = append(o.Items, Item{SKU: a, Quantity: qty, UnitPrice: price})
		} else {
			o.History = append(o.History, HistoryEntry{Status: Status(a), Reason: b, At: at.Time.UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	if o == nil {
		return nil, ErrNotFound
	}
	return o, nil
}

// scanFunc adapts a function to the Scan method scanOrder wants.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// List returns a page of orders, newest first, and how many match in all.
func (s *Service) List(ctx context.Context, f Filter) ([]*Order, int64, error) {
	if f.Stuck && f.Status.Terminal() {
		return nil, 0, nil // never stuck; and the status index would read every order that ended so
	}
	where, args := f.where(now())
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	n := len(args)
	rows, err := s.db.QueryContext(ctx, `SELECT `+shownColumns+` FROM orders`+where+
		` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2),
		append(args, f.Size, (f.Page-1)*f.Size)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o, err := scanOrder(rows, s.StepAttempts)
		if err != nil {
			return nil, 0, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, total, rows.Err()
}
