package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Quantities have at most QuantityDigits fraction digits. The stock table holds them as whole
// thousandths ("milli") so that the databases do the arithmetic exactly and atomically.
const QuantityDigits = 3

// MaxQuantity is the largest stock level that can be set: far beyond any warehouse, and far
// enough below the int64 range of thousandths that sums of levels cannot overflow it.
var MaxQuantity = decimal.NewFromInt(1_000_000_000_000)

// DemoCatalog is the stock `ordersys dev` starts with: SKU-1 … SKU-20, a million of each, ample
// for the quick start (SKU-1 ×33, SKU-2 ×14.5) and for the load generator.
var DemoCatalog = func() map[string]decimal.Decimal {
	m := make(map[string]decimal.Decimal, 20)
	for i := 1; i <= 20; i++ {
		m[fmt.Sprintf("SKU-%d", i)] = decimal.NewFromInt(1_000_000)
	}
	return m
}()

var (
	// ErrUnknownSKU: no stock is kept for the SKU.
	ErrUnknownSKU = errors.New("unknown SKU")
	// ErrInvalidQuantity: a quantity is negative, too large or has more than QuantityDigits
	// fraction digits.
	ErrInvalidQuantity = errors.New("invalid quantity")
)

var maxMilli = decimal.NewFromInt(math.MaxInt64)

// toMilli converts q to whole thousandths. It fails when q has more than QuantityDigits fraction
// digits (14.50 has one) or when its thousandths do not fit in an int64.
func toMilli(q decimal.Decimal) (int64, error) {
	m := q.Shift(QuantityDigits)
	if !m.IsInteger() {
		return 0, fmt.Errorf("%w: %s has more than %d fraction digits", ErrInvalidQuantity, q, QuantityDigits)
	}
	if m.Abs().GreaterThan(maxMilli) {
		return 0, fmt.Errorf("%w: %s is out of range", ErrInvalidQuantity, q)
	}
	return m.IntPart(), nil
}

// fromMilli is the exact decimal of m thousandths.
func fromMilli(m int64) decimal.Decimal { return decimal.New(m, -QuantityDigits) }

// checkLevel validates a stock level to be set.
func checkLevel(q decimal.Decimal) (int64, error) {
	if q.IsNegative() {
		return 0, fmt.Errorf("%w: %s is negative", ErrInvalidQuantity, q)
	}
	if q.GreaterThan(MaxQuantity) {
		return 0, fmt.Errorf("%w: %s is more than %s", ErrInvalidQuantity, q, MaxQuantity)
	}
	return toMilli(q)
}

// Level is the stock of one SKU: what can still be reserved, and what reservations hold.
type Level struct {
	SKU       string
	Available decimal.Decimal
	Reserved  decimal.Decimal
}

// Stock returns the level of sku, or ErrUnknownSKU.
func (s *Service) Stock(ctx context.Context, sku string) (Level, error) {
	var avail, reserved int64
	err := s.db.QueryRowContext(ctx, `SELECT available_milli, reserved_milli FROM stock WHERE sku = $1`, sku).
		Scan(&avail, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return Level{}, fmt.Errorf("%w %q", ErrUnknownSKU, sku)
	}
	if err != nil {
		return Level{}, fmt.Errorf("stock %s: %w", sku, err)
	}
	return Level{SKU: sku, Available: fromMilli(avail), Reserved: fromMilli(reserved)}, nil
}

// Levels returns the level of every SKU, sorted by SKU.
func (s *Service) Levels(ctx context.Context) ([]Level, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sku, available_milli, reserved_milli FROM stock ORDER BY sku`)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	defer rows.Close()
	out := []Level{}
	for rows.Next() {
		var l Level
		var avail, reserved int64
		if err := rows.Scan(&l.SKU, &avail, &reserved); err != nil {
			return nil, fmt.Errorf("stock: %w", err)
		}
		l.Available, l.Reserved = fromMilli(avail), fromMilli(reserved)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	// The database's collation may not order bytes; the API promises byte order.
	slices.SortFunc(out, func(a, b Level) int { return strings.Compare(a.SKU, b.SKU) })
	return out, nil
}

// SetAvailable sets how much of sku is available, creating the SKU (nothing reserved) if it is
// new. What reservations hold is left as it is. It returns the level now.
func (s *Service) SetAvailable(ctx context.Context, sku string, available decimal.Decimal) (Level, error) {
	milli, err := checkLevel(available)
	if err != nil {
		return Level{}, err
	}
	if sku == "" {
		return Level{}, errors.New("set stock: empty SKU")
	}
	var avail, reserved int64
	err = s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO stock (sku, available_milli, reserved_milli, updated_at)
			VALUES ($1, $2, 0, $3)
			ON CONFLICT (sku) DO UPDATE SET available_milli = excluded.available_milli, updated_at = excluded.updated_at
			RETURNING available_milli, reserved_milli`, sku, milli, time.Now().UTC()).Scan(&avail, &reserved)
	})
	if err != nil {
		return Level{}, fmt.Errorf("set stock %s: %w", sku, err)
	}
	return Level{SKU: sku, Available: fromMilli(avail), Reserved: fromMilli(reserved)}, nil
}

// Seed adds the SKUs of stock that do not exist yet, with that much available; existing SKUs
// are never changed, so seeding at every start keeps what was sold and set since.
func (s *Service) Seed(ctx context.Context, stock map[string]decimal.Decimal) error {
	skus := make([]string, 0, len(stock))
	milli := make(map[string]int64, len(stock))
	for sku, q := range stock {
		m, err := checkLevel(q)
		if err != nil {
			return fmt.Errorf("seed %s: %w", sku, err)
		}
		if sku == "" {
			return errors.New("seed: empty SKU")
		}
		skus = append(skus, sku)
		milli[sku] = m
	}
	slices.Sort(skus)
	now := time.Now().UTC()
	return s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		for _, sku := range skus {
			if _, err := tx.ExecContext(ctx, `INSERT INTO stock (sku, available_milli, reserved_milli, updated_at)
				VALUES ($1, $2, 0, $3) ON CONFLICT (sku) DO NOTHING`, sku, milli[sku], now); err != nil {
				return fmt.Errorf("seed %s: %w", sku, err)
			}
		}
		return nil
	})
}

// lockStock gives the reads that lock and read what a batch of commands and completions will
// update: the stock rows of the SKUs a reservation asks for and of those the reservations of
// released or completed orders hold, then the reservations of all its orders (stock rows first,
// in every transaction, so that two cannot deadlock).
func lockStock(tx *sqlstore.Tx, batch []messaging.Event) []sqlstore.Read {
	var skus []string
	var orders []string // whose reservations hold stock to give back or ship
	var all []string    // every order of the batch, whose reservation is locked and read
	for _, e := range batch {
		switch p := e.Payload.(type) {
		case *events.ReserveStock:
			for _, l := range p.Lines {
				skus = append(skus, l.SKU)
			}
			all = append(all, p.OrderID)
		case *events.ReleaseStock:
			orders = append(orders, p.OrderID)
		case *events.OrderCompleted:
			orders = append(orders, p.OrderID)
		}
	}
	lv := levelsOf(tx)
	for _, sku := range skus {
		lv[sku] = level{} // unknown unless the read finds it
	}
	skuIn, args := tx.In(0, skus)
	orderIn, orderArgs := tx.In(len(args), orders)
	all = append(all, orders...)
	return append([]sqlstore.Read{{
		Query: `SELECT sku, available_milli FROM stock WHERE sku ` + skuIn + ` OR sku IN (SELECT sku
			FROM reservation_lines WHERE order_id ` + orderIn + `)` +
			tx.LockInOrder("sku"),
		Args: append(args, orderArgs...),
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var sku string
				var l level
				if err := rows.Scan(&sku, &l.available); err != nil {
					return err
				}
				l.exists = true
				lv[sku] = l
			}
			return rows.Err()
		},
	}}, readReservations(tx, all)...)
}

// level is what a transaction knows of a SKU's stock row, which it has locked.
type level struct {
	exists    bool
	available int64 // thousandths
}

// levels are the stock rows a transaction has locked and read, by SKU. Its handlers decide
// against them, keep them up to date, and queue their updates to go with the commit, so that a
// batch's stock changes cost no round trip of their own.
type levels map[string]level

type levelsKey struct{}

func levelsOf(tx *sqlstore.Tx) levels {
	lv, _ := tx.Value(levelsKey{}).(levels)
	if lv == nil {
		lv = levels{}
		tx.SetValue(levelsKey{}, lv)
	}
	return lv
}

// stockOf returns sku's row as tx has locked it: from the batch's read when it has one, else
// with a query that locks it (a transaction of one record, which locks its SKUs in order).
func stockOf(ctx context.Context, tx *sqlstore.Tx, sku string) (level, error) {
	lv := levelsOf(tx)
	if l, ok := lv[sku]; ok {
		return l, nil
	}
	var l level
	err := tx.QueryRowContext(ctx, `SELECT available_milli FROM stock WHERE sku = $1`+tx.LockInOrder("sku"), sku).
		Scan(&l.available)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return level{}, fmt.Errorf("stock %s: %w", sku, err)
	default:
		l.exists = true
	}
	lv[sku] = l
	return l, nil
}
