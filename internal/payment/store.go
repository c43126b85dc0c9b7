package payment

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// row is one payments row.
type row struct {
	id, orderID, customerID, kind, currency, status, reason string
	amount                                                  decimal.Decimal
}

// paymentKey names an order's row of one kind.
type paymentKey struct{ orderID, kind string }

// batch is what a transaction knows of its batch: every payments row of its orders (a kind
// missing: none), kept up to date with the rows it writes, and the provider that decides against
// the accounts it locked.
type batch struct {
	rows     map[paymentKey]row
	provider Provider
}

// load reads, in the batch's first round trip, the payments rows of its orders and, from a
// provider that keeps them, the accounts its commands charge or refund (locked): the batch costs
// two round trips, not two per command.
func (s *Service) load(tx *sqlstore.Tx, cmds []messaging.Event) (*batch, []sqlstore.Read) {
	var orders []string
	var accounts []accountKey
	var reads []sqlstore.Read
	for _, e := range cmds {
		var order, customer, currency string
		switch cmd := e.Payload.(type) {
		case *events.ChargePayment:
			order, customer, currency = cmd.OrderID, cmd.CustomerID, cmd.Currency
		case *events.RefundPayment:
			order, customer, currency = cmd.OrderID, cmd.CustomerID, cmd.Currency
		default:
			continue
		}
		if !slices.Contains(orders, order) {
			orders = append(orders, order)
		}
		if a := (accountKey{customer, accountCurrency(currency)}); !slices.Contains(accounts, a) {
			accounts = append(accounts, a)
		}
	}
	b := &batch{rows: map[paymentKey]row{}}
	b.provider, reads = s.provider.load(tx, accounts)
	if len(orders) == 0 {
		return b, reads
	}
	in, args := tx.In(0, orders)
	return b, append([]sqlstore.Read{{
		Query: `SELECT order_id, kind, id, customer_id, amount, currency, status, reason
			FROM payments WHERE order_id ` + in,
		Args: args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var r row
				var amount string
				if err := rows.Scan(&r.orderID, &r.kind, &r.id, &r.customerID, &amount, &r.currency,
					&r.status, &r.reason); err != nil {
					return err
				}
				var err error
				if r.amount, err = decimal.NewFromString(amount); err != nil {
					return fmt.Errorf("stored amount %q: %w", amount, err)
				}
				b.rows[paymentKey{r.orderID, r.kind}] = r
			}
			return rows.Err()
		},
	}}, reads...)
}

// insert queues a new payments row and records it for the rest of the batch. A plain INSERT: a
// concurrent command that took the order's row of this kind first fails this commit on the
// unique key (order_id, kind), and the retry reads that row.
func (b *batch) insert(tx *sqlstore.Tx, r row) {
	tx.ExecLater("payments", `INSERT INTO payments
		(id, order_id, customer_id, kind, amount, currency, status, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.id, r.orderID, r.customerID, r.kind, r.amount.String(),
		r.currency, r.status, r.reason, time.Now().UTC())
	b.rows[paymentKey{r.orderID, r.kind}] = r
}

// Payment is one charge or refund that happened (declined attempts are not payments).
type Payment struct {
	ID, OrderID, Kind, Amount, Currency string
	CreatedAt                           time.Time
}

// PaymentsFor lists an order's charges and refunds, oldest first: only if they are customer's
// when customer is not "".
func (s *Service) PaymentsFor(ctx context.Context, orderID, customer string) ([]Payment, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (p Payment, err error) {
		err = r.Scan(&p.ID, &p.OrderID, &p.Kind, &p.Amount, &p.Currency, &p.CreatedAt)
		return p, err
	}, `SELECT id, order_id, kind, amount, currency, created_at FROM payments
		WHERE order_id = $1 AND status = 'SUCCEEDED' AND ($2 = '' OR customer_id = $2)
		ORDER BY created_at, kind, id`, orderID, customer)
}
