package order

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// querier is what both *sql.DB and *sql.Tx offer, so reads run inside or outside a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertOrder(ctx context.Context, q querier, o *Order) error {
	a := o.Address
	if _, err := q.ExecContext(ctx, `INSERT INTO orders (id, customer_id, status, currency, total_amount,
		ship_country, ship_city, ship_line1, ship_line2, ship_postal, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
		o.ID, o.CustomerID, string(o.Status), o.Currency, o.Total.String(),
		a.Country, a.City, a.AddressLine1, a.AddressLine2, a.PostalCode, o.CreatedAt); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	for i, it := range o.Items {
		if _, err := q.ExecContext(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, unit_price, line_total)
			VALUES ($1, $2, $3, $4, $5, $6)`, o.ID, i+1, it.SKU, it.Quantity.String(), it.UnitPrice.String(),
			lineTotal(it.Quantity, it.UnitPrice).String()); err != nil {
			return fmt.Errorf("insert order item: %w", err)
		}
	}
	return addHistory(ctx, q, o.ID, o.Status, "", o.CreatedAt)
}

func addHistory(ctx context.Context, q querier, orderID string, s Status, reason string, at time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO order_history (order_id, seq, status, reason, at)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM order_history WHERE order_id = $1), $2, $3, $4)`,
		orderID, string(s), reason, at)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	return nil
}

// errConcurrentUpdate means another transaction moved the order first; the event is retried and
// re-evaluated against the order's new state.
var errConcurrentUpdate = errors.New("order changed concurrently")

// loadSaga reads an order (without items) and its saga state, with the version to compare-and-set.
func loadSaga(ctx context.Context, q querier, id string) (*Order, sagaState, int64, error) {
	var st sagaState
	var version int64
	var charged, reserved, refund, release int
	var outcome string
	var o Order
	var status, total string
	a := &o.Address
	err := q.QueryRowContext(ctx, `SELECT `+orderColumns+`, version, charged, reserved, refund_pending,
		release_pending, outcome, outcome_reason, step_attempts FROM orders WHERE id = $1`, id).Scan(
		&o.ID, &o.CustomerID, &status, &o.FailureReason, &o.Currency, &total,
		&a.Country, &a.City, &a.AddressLine1, &a.AddressLine2, &a.PostalCode, &o.CreatedAt, &o.UpdatedAt,
		&version, &charged, &reserved, &refund, &release, &outcome, &st.OutcomeReason, &st.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, st, 0, ErrNotFound
	}
	if err != nil {
		return nil, st, 0, fmt.Errorf("read order: %w", err)
	}
	if o.Total, err = decimal.NewFromString(total); err != nil {
		return nil, st, 0, fmt.Errorf("order %s total %q: %w", o.ID, total, err)
	}
	o.Status = Status(status)
	st.Status, st.Outcome, st.FailureReason = o.Status, Status(outcome), o.FailureReason
	st.Charged, st.Reserved, st.RefundPending, st.ReleasePending = charged == 1, reserved == 1, refund == 1, release == 1
	return &o, st, version, nil
}

// saveSaga stores a saga step as a compare-and-set on the order's version, and records it in the
// history when the status changed or the step says something worth keeping.
func saveSaga(ctx context.Context, q querier, id string, version int64, from Status, s sagaState, deadline any, at time.Time) error {
	failure := ""
	if s.Status == Failed {
		failure = s.FailureReason
	}
	res, err := q.ExecContext(ctx, `UPDATE orders SET status = $1, failure_reason = $2, updated_at = $3,
		version = version + 1, charged = $4, reserved = $5, refund_pending = $6, release_pending = $7,
		outcome = $8, outcome_reason = $9, step_deadline = $10, step_attempts = $11
		WHERE id = $12 AND version = $13`,
		string(s.Status), failure, at, b2i(s.Charged), b2i(s.Reserved), b2i(s.RefundPending), b2i(s.ReleasePending),
		string(s.Outcome), s.OutcomeReason, deadline, s.Attempts, id, version)
	if err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update order: %w", err)
	} else if n != 1 {
		return errConcurrentUpdate
	}
	if s.UndoneTag != "" {
		if err := addHistory(ctx, q, id, from, s.UndoneTag, at); err != nil {
			return err
		}
	}
	if s.Status != from || s.HistoryReasonTag != "" {
		return addHistory(ctx, q, id, s.Status, s.HistoryReasonTag, at)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const orderColumns = `id, customer_id, status, failure_reason, currency, total_amount,
	ship_country, ship_city, ship_line1, ship_line2, ship_postal, created_at, updated_at`

func scanOrder(row interface{ Scan(...any) error }) (*Order, error) {
	var o Order
	var status, total string
	a := &o.Address
	if err := row.Scan(&o.ID, &o.CustomerID, &status, &o.FailureReason, &o.Currency, &total,
		&a.Country, &a.City, &a.AddressLine1, &a.AddressLine2, &a.PostalCode, &o.CreatedAt, &o.UpdatedAt); err != nil {
		return nil, err
	}
	o.Status = Status(status)
	var err error
	if o.Total, err = decimal.NewFromString(total); err != nil {
		return nil, fmt.Errorf("order %s total %q: %w", o.ID, total, err)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return &o, nil
}

// loadOrder reads an order, with its items if asked: the saga needs them for two steps of four,
// and on PostgreSQL every query is a round trip.
func loadOrder(ctx context.Context, q querier, id string, withItems bool) (*Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	if withItems {
		if o.Items, err = loadItems(ctx, q, id); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func loadItems(ctx context.Context, q querier, id string) ([]Item, error) {
	rows, err := q.QueryContext(ctx, `SELECT sku, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY line`, id)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var it Item
		var qty, price string
		if err := rows.Scan(&it.SKU, &qty, &price); err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
		it.Quantity, it.UnitPrice = decimal.RequireFromString(qty), decimal.RequireFromString(price)
		items = append(items, it)
	}
	return items, rows.Err()
}

func loadHistory(ctx context.Context, q querier, id string) ([]HistoryEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT status, reason, at FROM order_history WHERE order_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var status string
		if err := rows.Scan(&status, &h.Reason, &h.At); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		h.Status, h.At = Status(status), h.At.UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// Filter selects orders to list; empty fields match everything.
type Filter struct {
	CustomerID string
	Status     Status
	Page, Size int
}

// Get returns one order with its history.
func (s *Service) Get(ctx context.Context, id string) (*Order, error) {
	o, err := loadOrder(ctx, s.db, id, true)
	if err != nil {
		return nil, err
	}
	// History is read after the order row, so it holds at least every status up to o.Status.
	o.History, err = loadHistory(ctx, s.db, id)
	return o, err
}

// List returns a page of orders, newest first, and how many match in all.
func (s *Service) List(ctx context.Context, f Filter) ([]*Order, int64, error) {
	where := ` WHERE ($1 = '' OR customer_id = $1) AND ($2 = '' OR status = $2)`
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`+where, f.CustomerID, string(f.Status)).
		Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders`+where+
		` ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
		f.CustomerID, string(f.Status), f.Size, (f.Page-1)*f.Size)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, total, rows.Err()
}
