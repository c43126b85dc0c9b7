package payment

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// A consumer applying a batch of commands reads, in its first round trip, the payments rows of
// the batch's orders and the accounts they charge (locked), then decides each command in memory
// and queues its writes: the batch costs two round trips, not two per command. A command applied
// outside such a batch reads and writes as it goes.

// paymentKey names an order's row of one kind.
type paymentKey struct{ orderID, kind string }

// known is what a transaction has read of its batch's payments rows, kept up to date with the
// rows it queues. An order in orders has all its rows in rows (a missing kind: none).
type known struct {
	orders map[string]bool
	rows   map[paymentKey]row
}

type knownKey struct{}

func knownOf(tx *sqlstore.Tx) *known {
	k, _ := tx.Value(knownKey{}).(*known)
	return k
}

// covers reports whether tx read the order's rows for its batch.
func (k *known) covers(orderID string) bool { return k != nil && k.orders[orderID] }

// accountReader is a Provider that keeps accounts in the service's database, and so can read,
// and lock, the accounts of a batch in the batch's first round trip.
type accountReader interface {
	readAccounts(tx *sqlstore.Tx, keys []accountKey) []sqlstore.Read
}

// accountKey names an account: a customer's credit in one currency.
type accountKey struct{ customerID, currency string }

// prepare gives the reads of a batch: its orders' payments rows, and the accounts its commands
// may charge or refund if the provider keeps them.
func (s *Service) prepare(tx *sqlstore.Tx, batch []messaging.Event) []sqlstore.Read {
	var orders []string
	var accounts []accountKey
	for _, e := range batch {
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
	if len(orders) == 0 {
		return nil
	}
	k := &known{orders: map[string]bool{}, rows: map[paymentKey]row{}}
	for _, o := range orders {
		k.orders[o] = true
	}
	tx.SetValue(knownKey{}, k)
	in, args := tx.In(0, orders)
	reads := []sqlstore.Read{{
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
				k.rows[paymentKey{r.orderID, r.kind}] = r
			}
			return rows.Err()
		},
	}}
	if p, ok := s.provider.(accountReader); ok {
		reads = append(reads, p.readAccounts(tx, accounts)...)
	}
	return reads
}
