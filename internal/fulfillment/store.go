package fulfillment

import (
	"context"
	"slices"
	"time"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// decisions are what the service decided before for the orders of a transaction's batch, by
// order id (none: the zero decision), kept up to date with the decisions the batch makes.
type decisions map[string]decision

// loadDecisions reads every decision recorded for the orders of a batch, so that deciding costs
// no round trip per command.
func loadDecisions(tx *sqlstore.Tx, batch []messaging.Event) (decisions, []sqlstore.Read) {
	ds := decisions{}
	var orders []string
	for _, e := range batch {
		if id := e.Envelope.Subject; !slices.Contains(orders, id) {
			orders = append(orders, id)
		}
	}
	if len(orders) == 0 {
		return ds, nil
	}
	in, args := tx.In(0, orders)
	return ds, []sqlstore.Read{{
		Query: `SELECT order_id, reason FROM shipment_failures WHERE order_id ` + in,
		Args:  args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var order, reason string
				if err := rows.Scan(&order, &reason); err != nil {
					return err
				}
				d := ds[order]
				d.failed, d.reason = true, reason
				ds[order] = d
			}
			return rows.Err()
		},
	}, {
		Query: `SELECT order_id, id, carrier, tracking_number FROM shipments WHERE order_id ` + in,
		Args:  args,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var sh events.ShipmentCreated
				if err := rows.Scan(&sh.OrderID, &sh.ShipmentID, &sh.Carrier, &sh.TrackingNumber); err != nil {
					return err
				}
				d := ds[sh.OrderID]
				d.shipped, d.shipment = true, sh
				ds[sh.OrderID] = d
			}
			return rows.Err()
		},
	}}
}

// record queues the writes of a new decision for an order of customer shipping to a (both empty
// for a cancel, which names neither). They are plain INSERTs that go with the commit: a
// concurrent command for the same order (two replicas during a rebalance) fails on the unique key
// and is retried, and then finds the decision made. A cancel is decided in the tables of
// failures, a shipment in its own: the order's commands share a partition, so a CancelShipment is
// handled after its CreateShipment was decided (and committed, or in the same batch), and reads
// that decision.
func record(tx *sqlstore.Tx, orderID, customer string, a events.Address, d decision, now time.Time) {
	if d.failed {
		tx.ExecLater("shipment_failures", `INSERT INTO shipment_failures (order_id, reason, country, created_at)
			VALUES ($1, $2, $3, $4)`, orderID, d.reason, a.Country, now)
		return
	}
	sh := d.shipment
	// A command sent before CreateShipment named its customer leaves the row without one (NULL).
	tx.ExecLater("shipments", `INSERT INTO shipments
		(id, order_id, customer_id, carrier, tracking_number, country, city, address_line1, created_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9)`,
		sh.ShipmentID, orderID, customer, sh.Carrier, sh.TrackingNumber, countryKey(a.Country), a.City,
		a.AddressLine1, now)
}

// Shipment is one order's shipment.
type Shipment struct {
	ID, OrderID, Carrier, TrackingNumber, Country string
	CreatedAt                                     time.Time
}

// ShipmentsFor lists the order's shipments (zero or one), oldest first: only if they are
// customer's when customer is not "" (a shipment recorded without its customer is then never
// listed).
func (s *Service) ShipmentsFor(ctx context.Context, orderID, customer string) ([]Shipment, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (sh Shipment, err error) {
		err = r.Scan(&sh.ID, &sh.OrderID, &sh.Carrier, &sh.TrackingNumber, &sh.Country, &sh.CreatedAt)
		return sh, err
	}, `SELECT id, order_id, carrier, tracking_number, country, created_at
		FROM shipments WHERE order_id = $1 AND ($2 = '' OR customer_id = $2)
		ORDER BY created_at, id`, orderID, customer)
}

// ShipmentCount counts the order's shipments (zero or one).
func (s *Service) ShipmentCount(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipments WHERE order_id = $1`, orderID).Scan(&n)
	return n, err
}
