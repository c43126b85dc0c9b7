package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/errs"
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
	ErrUnknownSKU = errs.New(errs.ENOTFOUND, "SKU not found", "unknown SKU")
	// ErrInvalidQuantity: a quantity is negative, too large or has more than QuantityDigits
	// fraction digits.
	ErrInvalidQuantity = errs.New(errs.EINVALID, "Invalid quantity", "invalid quantity")
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

// Levels returns a page of the SKUs' levels, sorted by SKU in byte order (page is 1-based, of
// size levels), and how many SKUs there are in all.
func (s *Service) Levels(ctx context.Context, page, size int) ([]Level, int64, error) {
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM stock`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count stock: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sku, available_milli, reserved_milli FROM stock`+
		s.db.InByteOrder("sku")+` LIMIT $1 OFFSET $2`, size, (page-1)*size)
	if err != nil {
		return nil, 0, fmt.Errorf("stock: %w", err)
	}
	defer rows.Close()
	out := []Level{}
	for rows.Next() {
		var l Level
		var avail, reserved int64
		if err := rows.Scan(&l.SKU, &avail, &reserved); err != nil {
			return nil, 0, fmt.Errorf("stock: %w", err)
		}
		l.Available, l.Reserved = fromMilli(avail), fromMilli(reserved)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("stock: %w", err)
	}
	return out, total, nil
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
