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
// provider that keeps its state in the service's database stays exact. The transaction applies a
// batch of commands, and the writes of those before this one are queued, not yet run: a provider
// that reads tables they write must call tx.Flush first. Errors are retried unless wrapped with
// messaging.Permanent; a refund of an approved charge must not be declined.
type Provider interface {
	Charge(ctx context.Context, tx *sqlstore.Tx, req ChargeRequest) (Result, error)
	Refund(ctx context.Context, tx *sqlstore.Tx, req RefundRequest) error
}

// batchProvider is a Provider as the service uses it: load reads, and locks, in a batch's first
// round trip whatever the provider decides against (the accounts of the simulator), and returns
// the Provider that serves that batch.
type batchProvider interface {
	load(tx *sqlstore.Tx, accounts []accountKey) (Provider, []sqlstore.Read)
}

// fixed is a provider that keeps nothing in the service's database: every batch uses it as it is.
type fixed struct{ Provider }

func (f fixed) load(*sqlstore.Tx, []accountKey) (Provider, []sqlstore.Read) { return f.Provider, nil }

// accountKey names an account: a customer's credit in one currency.
type accountKey struct{ customerID, currency string }

// simulator is the built-in provider: every customer has a credit limit per currency, which
// charges use up and refunds give back; a charge that does not fit in what is left is declined.
// Accounts live in the payment database (table accounts), in integer ten-thousandths.
type simulator struct {
	limitE4 int64
}

// newSimulator returns a simulated provider giving each new account the credit limit limit.
func newSimulator(limit decimal.Decimal) (*simulator, error) {
	e4, err := toE4(limit)
	if err != nil {
		return nil, fmt.Errorf("credit limit %s: %w", limit, err)
	}
	return &simulator{limitE4: e4}, nil
}

// account is an account as a transaction has locked it; nil in a ledger: there is none.
type account struct{ limitE4, usedE4 int64 }

// ledger is the simulator serving one batch: the accounts the batch read and locked, kept up to
// date with the writes it queues.
type ledger struct {
	limitE4  int64
	accounts map[accountKey]*account
}

// load reads, and locks, the accounts of a batch's commands.
func (s *simulator) load(tx *sqlstore.Tx, keys []accountKey) (Provider, []sqlstore.Read) {
	l := &ledger{limitE4: s.limitE4, accounts: map[accountKey]*account{}}
	if len(keys) == 0 {
		return l, nil
	}
	var customers []string
	for _, k := range keys {
		l.accounts[k] = nil
		if !slices.Contains(customers, k.customerID) {
			customers = append(customers, k.customerID)
		}
	}
	in, args := tx.In(0, customers)
	return l, []sqlstore.Read{{
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
				if _, want := l.accounts[k]; want {
					l.accounts[k] = &a
				}
			}
			return rows.Err()
		},
	}}
}

// Charge uses amount of the customer's credit, or declines if too little is left. The account
// is locked, so the level it was read at still holds when the queued write runs. A charge to a
// customer with no account opens it, whatever its outcome.
func (l *ledger) Charge(_ context.Context, tx *sqlstore.Tx, req ChargeRequest) (Result, error) {
	amount, err := toE4(req.Amount)
	if errors.Is(err, errTooLarge) {
		return Result{DeclineReason: ReasonCreditLimitExceeded}, nil // more than any limit can hold
	} else if err != nil {
		return Result{}, err
	}
	k := accountKey{req.CustomerID, accountCurrency(req.Currency)}
	a, read := l.accounts[k]
	if !read {
		return Result{}, fmt.Errorf("account %s %s was not read for this batch", k.customerID, k.currency)
	}
	open := a == nil
	if open {
		a = &account{limitE4: l.limitE4}
		l.accounts[k] = a
	}
	approved := amount <= a.limitE4-a.usedE4
	if approved {
		a.usedE4 += amount
	}
	now := time.Now().UTC()
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
		return Result{DeclineReason: ReasonCreditLimitExceeded}, nil
	}
	return Result{Approved: true}, nil
}

// Refund gives the charge's amount back to the customer's credit. It never goes below zero used,
// and an account that does not exist (a charge taken before accounts were kept) has nothing to
// give back. An account the batch did not read (a command naming another customer than its
// charge) is updated without being read: nothing in the batch decides against it.
func (l *ledger) Refund(_ context.Context, tx *sqlstore.Tx, req RefundRequest) error {
	amount, err := toE4(req.Amount)
	if err != nil {
		return fmt.Errorf("refund amount %s: %w", req.Amount, err)
	}
	k := accountKey{req.CustomerID, accountCurrency(req.Currency)}
	a, read := l.accounts[k]
	switch {
	case !read:
		tx.ExecLater("accounts", `UPDATE accounts
			SET used_e4 = CASE WHEN used_e4 > $3 THEN used_e4 - $3 ELSE 0 END, updated_at = $4
			WHERE customer_id = $1 AND currency = $2`, k.customerID, k.currency, amount, time.Now().UTC())
	case a != nil:
		a.usedE4 = max(a.usedE4-amount, 0)
		setUsed(tx, k, a.usedE4, time.Now().UTC())
	}
	return nil
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
