package payment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Decline reasons, as sent in PaymentDeclined.
const (
	// ReasonCreditLimitExceeded: the charge does not fit in what is left of the customer's limit.
	ReasonCreditLimitExceeded = "CREDIT_LIMIT_EXCEEDED"
	// ReasonAlreadyRefunded: the order was refunded (compensated) before any charge arrived.
	ReasonAlreadyRefunded = "ALREADY_REFUNDED"
)

// ChargeRequest asks a provider to take money for one order.
type ChargeRequest struct {
	PaymentID  string // the charge's id, unique: a provider may use it as its idempotency key
	OrderID    string
	CustomerID string
	Amount     decimal.Decimal // non-negative, at most 4 fraction digits
	Currency   string
}

// RefundRequest asks a provider to give back a charge it approved.
type RefundRequest struct {
	RefundID   string
	PaymentID  string // the charge being given back
	OrderID    string
	CustomerID string
	Amount     decimal.Decimal // the charge's amount
	Currency   string
}

// Result is a provider's answer to a charge.
type Result struct {
	Approved bool
	// DeclineReason says why a charge was not approved (e.g. CREDIT_LIMIT_EXCEEDED).
	DeclineReason string
}

// Provider moves the money. The service calls it at most once per charge and once per refund
// (its payments table decides that), inside the transaction that records the outcome, so a
// provider that keeps its state in the service's database stays exact. Errors are retried unless
// wrapped with messaging.Permanent; a refund of an approved charge must not be declined.
type Provider interface {
	Charge(ctx context.Context, tx *sqlstore.Tx, req ChargeRequest) (Result, error)
	Refund(ctx context.Context, tx *sqlstore.Tx, req RefundRequest) error
}

// Simulator is the built-in provider: every customer has a credit limit per currency, which
// charges use up and refunds give back; a charge that does not fit in what is left is declined.
// Accounts live in the payment database (table accounts), in integer ten-thousandths.
type Simulator struct {
	limitE4 int64
}

// NewSimulator returns a simulated provider giving each new account the credit limit limit.
func NewSimulator(limit decimal.Decimal) (*Simulator, error) {
	e4, err := toE4(limit)
	if err != nil {
		return nil, fmt.Errorf("credit limit %s: %w", limit, err)
	}
	return &Simulator{limitE4: e4}, nil
}

// Charge uses amount of the customer's credit, or declines if too little is left. Creating the
// account and the conditional UPDATE make the check-and-use atomic on both databases: on
// PostgreSQL a concurrent charge waits on the row lock and the condition is re-evaluated on the
// row it left behind; on SQLite writers are serialised.
func (s *Simulator) Charge(ctx context.Context, tx *sqlstore.Tx, req ChargeRequest) (Result, error) {
	amount, err := toE4(req.Amount)
	if errors.Is(err, errTooLarge) {
		return Result{DeclineReason: ReasonCreditLimitExceeded}, nil // more than any limit can hold
	} else if err != nil {
		return Result{}, err
	}
	customer, currency := req.CustomerID, accountCurrency(req.Currency)
	now := time.Now().UTC()
	if as := accountsOf(tx); as.has(accountKey{customer, currency}) {
		return s.chargeRead(tx, as, accountKey{customer, currency}, amount, now), nil
	}
	// Queued, it runs in the UPDATE's round trip.
	tx.ExecLater("accounts", `INSERT INTO accounts (customer_id, currency, limit_e4, used_e4, updated_at)
		VALUES ($1, $2, $3, 0, $4) ON CONFLICT (customer_id, currency) DO NOTHING`,
		customer, currency, s.limitE4, now)
	// "$3 <= limit_e4 - used_e4" rather than "used_e4 + $3 <= limit_e4": the same test, but it
	// cannot overflow a BIGINT (used_e4 never exceeds limit_e4), whatever the amount.
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET used_e4 = used_e4 + $3, updated_at = $4
		WHERE customer_id = $1 AND currency = $2 AND $3 <= limit_e4 - used_e4`,
		customer, currency, amount, now)
	if err != nil {
		return Result{}, fmt.Errorf("use credit: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Result{}, fmt.Errorf("use credit: %w", err)
	}
	if n != 1 {
		return Result{DeclineReason: ReasonCreditLimitExceeded}, nil
	}
	return Result{Approved: true}, nil
}

// Refund gives the charge's amount back to the customer's credit. It never goes below zero used,
// and an account that does not exist (a charge taken before accounts were kept) has nothing to
// give back.
func (s *Simulator) Refund(ctx context.Context, tx *sqlstore.Tx, req RefundRequest) error {
	amount, err := toE4(req.Amount)
	if err != nil {
		return fmt.Errorf("refund amount %s: %w", req.Amount, err)
	}
	key := accountKey{req.CustomerID, accountCurrency(req.Currency)}
	if as := accountsOf(tx); as.has(key) {
		if a := as[key]; a != nil {
			a.usedE4 = max(a.usedE4-amount, 0)
			setUsed(tx, key, a.usedE4, time.Now().UTC())
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts
		SET used_e4 = CASE WHEN used_e4 > $3 THEN used_e4 - $3 ELSE 0 END, updated_at = $4
		WHERE customer_id = $1 AND currency = $2`,
		req.CustomerID, accountCurrency(req.Currency), amount, time.Now().UTC()); err != nil {
		return fmt.Errorf("give credit back: %w", err)
	}
	return nil
}

// account is an account as a transaction has locked it; nil in accounts: there is none.
type account struct{ limitE4, usedE4 int64 }

// accounts are the accounts a transaction read, and locked, for its batch.
type accounts map[accountKey]*account

type accountsKey struct{}

// readAccounts gives the read that locks the batch's accounts (see accountReader).
func (s *Simulator) readAccounts(tx *sqlstore.Tx, keys []accountKey) []sqlstore.Read {
	as := accounts{}
	var customers []string
	for _, k := range keys {
		as[k] = nil
		if !slices.Contains(customers, k.customerID) {
			customers = append(customers, k.customerID)
		}
	}
	tx.SetValue(accountsKey{}, as)
	in, args := tx.In(0, customers)
	return []sqlstore.Read{{
		Query: `SELECT customer_id, currency, limit_e4, used_e4 FROM accounts WHERE customer_id ` + in +
			tx.LockInOrder("customer_id, currency"),
		Args: args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var k accountKey
				var a account
				if err := rows.Scan(&k.customerID, &k.currency, &a.limitE4, &a.usedE4); err != nil {
					return err
				}
				if _, want := as[k]; want {
					as[k] = &a
				}
			}
			return rows.Err()
		},
	}}
}

// accountsOf returns the accounts tx read for its batch (nil if it read none).
func accountsOf(tx *sqlstore.Tx) accounts {
	as, _ := tx.Value(accountsKey{}).(accounts)
	return as
}

// has reports whether the batch's read covered the account k (which may not exist).
func (as accounts) has(k accountKey) bool {
	_, read := as[k]
	return read
}

// chargeRead decides a charge against the account k as tx locked it (none yet: the charge opens
// it, whatever its outcome, as the conditional path does), and queues the write.
func (s *Simulator) chargeRead(tx *sqlstore.Tx, as accounts, k accountKey, amount int64, now time.Time) Result {
	a := as[k]
	open := a == nil
	if open {
		a = &account{limitE4: s.limitE4}
		as[k] = a
	}
	approved := amount <= a.limitE4-a.usedE4
	if approved {
		a.usedE4 += amount
	}
	switch {
	case open:
		// A plain INSERT: if a concurrent charge opened the account first, this commit fails on
		// its key and the retry reads that account.
		tx.ExecLater("accounts", `INSERT INTO accounts (customer_id, currency, limit_e4, used_e4, updated_at)
			VALUES ($1, $2, $3, $4, $5)`, k.customerID, k.currency, a.limitE4, a.usedE4, now)
	case approved:
		setUsed(tx, k, a.usedE4, now)
	}
	if !approved {
		return Result{DeclineReason: ReasonCreditLimitExceeded}
	}
	return Result{Approved: true}
}

// setUsed queues the new credit used of an account tx has locked.
func setUsed(tx *sqlstore.Tx, k accountKey, usedE4 int64, now time.Time) {
	tx.ExecLater("accounts", `UPDATE accounts SET used_e4 = $3, updated_at = $4 WHERE customer_id = $1 AND currency = $2`,
		k.customerID, k.currency, usedE4, now)
}

// accountCurrency is the currency as an account key: "usd" and "USD" are one account.
func accountCurrency(c string) string { return strings.ToUpper(strings.TrimSpace(c)) }

var (
	errNegative  = errors.New("is negative")
	errPrecision = errors.New("has more than 4 fraction digits")
	errTooLarge  = errors.New("is too large")
)

var maxE4 = decimal.NewFromInt(math.MaxInt64)

// toE4 is d in ten-thousandths, exactly.
func toE4(d decimal.Decimal) (int64, error) {
	if d.IsNegative() {
		return 0, errNegative
	}
	e4 := d.Shift(4)
	if !e4.IsInteger() {
		return 0, errPrecision
	}
	if e4.GreaterThan(maxE4) {
		return 0, errTooLarge
	}
	return e4.IntPart(), nil
}
