// Package fulfillment is the fulfillment service: it hands an order to a carrier, once, answering
// the saga's commands with events; orders to countries it does not ship to fail.
package fulfillment

import (
	"context"
	"embed"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its consumer group, event source and database name.
const Name = "fulfillment"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_fulfillment_version", migrationsFS, "migrations")

// ReasonUnsupportedCountry is the ShipmentFailed reason for an address outside the supported
// countries.
const ReasonUnsupportedCountry = "UNSUPPORTED_COUNTRY"

// defaultCountries are shipped to when Config names none: ISO 3166 alpha-3 and alpha-2 codes of
// the same countries, since addresses arrive with either ("USA" in the quick start).
var defaultCountries = []string{"USA", "US", "CAN", "CA", "GBR", "GB", "DEU", "DE", "FRA", "FR"}

// DefaultCountries returns the countries shipped to when Config names none.
func DefaultCountries() []string { return append([]string(nil), defaultCountries...) }

// Config configures the service. The zero value is valid.
type Config struct {
	// Countries shipped to, compared with an address's country case-insensitively after trimming
	// spaces. Empty means DefaultCountries().
	Countries []string
}

// Service handles fulfillment commands.
type Service struct {
	db        *sqlstore.DB
	outbox    *messaging.Outbox
	countries map[string]bool // normalised by countryKey
}

// New returns the fulfillment service on db.
func New(db *sqlstore.DB, outbox *messaging.Outbox, cfg Config) *Service {
	list := cfg.Countries
	if len(list) == 0 {
		list = defaultCountries
	}
	countries := make(map[string]bool, len(list))
	for _, c := range list {
		if k := countryKey(c); k != "" {
			countries[k] = true
		}
	}
	return &Service{db: db, outbox: outbox, countries: countries}
}

func countryKey(c string) string { return strings.ToUpper(strings.TrimSpace(c)) }

// Ships reports whether the service ships to country.
func (s *Service) Ships(country string) bool { return s.countries[countryKey(country)] }

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicFulfillmentCommands},
		Handle: s.handle, Prepare: readDecisions}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch cmd := p.(type) {
	case *events.CreateShipment:
		if err := s.ship(ctx, tx, cmd); err != nil {
			return fmt.Errorf("ship %s: %w", cmd.OrderID, err)
		}
		return nil
	default:
		return messaging.Permanent(fmt.Errorf("fulfillment service cannot handle %s", p.EventType()))
	}
}

// ship decides once per order: it creates the order's one shipment and answers ShipmentCreated,
// or records why it cannot and answers ShipmentFailed. A repeated command answers again with
// that first decision. The decision is recorded by a plain INSERT that goes with the commit: a
// concurrent command for the same order (two replicas during a rebalance) fails on the unique key
// and is retried, and then finds the decision made.
func (s *Service) ship(ctx context.Context, tx *sqlstore.Tx, cmd *events.CreateShipment) error {
	d, err := decisionOf(ctx, tx, cmd.OrderID)
	switch {
	case err != nil:
		return err
	case d.failed:
		return s.reply(ctx, tx, cmd.OrderID, events.ShipmentFailed{OrderID: cmd.OrderID, Reason: d.reason})
	case d.shipped:
		// A shipment made before the country was dropped from the list still stands.
		return s.reply(ctx, tx, cmd.OrderID, d.shipment)
	}
	a := cmd.Address
	now := time.Now().UTC()
	if !s.Ships(a.Country) {
		tx.ExecLater("shipment_failures", `INSERT INTO shipment_failures (order_id, reason, country, created_at)
			VALUES ($1, $2, $3, $4)`, cmd.OrderID, ReasonUnsupportedCountry, a.Country, now)
		decided(tx, cmd.OrderID, decision{failed: true, reason: ReasonUnsupportedCountry})
		return s.reply(ctx, tx, cmd.OrderID, events.ShipmentFailed{OrderID: cmd.OrderID, Reason: ReasonUnsupportedCountry})
	}
	id := uuid.NewString()
	created := events.ShipmentCreated{OrderID: cmd.OrderID, ShipmentID: id, Carrier: "UPS",
		TrackingNumber: "1Z" + strings.ToUpper(strings.ReplaceAll(id, "-", "")[:16])}
	tx.ExecLater("shipments", `INSERT INTO shipments
		(id, order_id, carrier, tracking_number, country, city, address_line1, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, cmd.OrderID, created.Carrier, created.TrackingNumber, countryKey(a.Country), a.City, a.AddressLine1, now)
	decided(tx, cmd.OrderID, decision{shipped: true, shipment: created})
	return s.reply(ctx, tx, cmd.OrderID, created)
}

// decision is what the service decided for an order before, if anything.
type decision struct {
	failed, shipped bool
	reason          string // why it failed
	shipment        events.ShipmentCreated
}

// decisions are what the service decided before for the orders of a transaction's batch, read
// in its first round trip, by order id.
type decisions map[string]decision

type decisionsKey struct{}

// readDecisions gives the reads of every decision recorded for the orders of a batch, so that
// deciding costs no round trip per command.
func readDecisions(tx *sqlstore.Tx, batch []messaging.Event) []sqlstore.Read {
	var orders []string
	for _, e := range batch {
		if cmd, ok := e.Payload.(*events.CreateShipment); ok && !slices.Contains(orders, cmd.OrderID) {
			orders = append(orders, cmd.OrderID)
		}
	}
	if len(orders) == 0 {
		return nil
	}
	ds := decisions{}
	for _, o := range orders {
		ds[o] = decision{shipment: events.ShipmentCreated{OrderID: o}}
	}
	tx.SetValue(decisionsKey{}, ds)
	return decisionReads(tx, orders, ds)
}

// decisionReads reads the recorded failures and shipments of orders into ds.
func decisionReads(tx *sqlstore.Tx, orders []string, ds decisions) []sqlstore.Read {
	in, args := tx.In(0, orders)
	return []sqlstore.Read{{
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
				var order string
				var sh events.ShipmentCreated
				if err := rows.Scan(&order, &sh.ShipmentID, &sh.Carrier, &sh.TrackingNumber); err != nil {
					return err
				}
				sh.OrderID = order
				d := ds[order]
				d.shipped, d.shipment = true, sh
				ds[order] = d
			}
			return rows.Err()
		},
	}}
}

// decisionOf returns the order's recorded failure and shipment: from the batch's reads, or read
// now (one round trip) for a command applied on its own. A decision this transaction makes is
// recorded in the batch's too, so a repeated command later in the batch gets the same answer.
func decisionOf(ctx context.Context, tx *sqlstore.Tx, orderID string) (decision, error) {
	ds, _ := tx.Value(decisionsKey{}).(decisions)
	if d, ok := ds[orderID]; ok {
		return d, nil
	}
	one := decisions{orderID: {shipment: events.ShipmentCreated{OrderID: orderID}}}
	err := tx.QueryAll(ctx, decisionReads(tx, []string{orderID}, one)...)
	return one[orderID], err
}

// decided records a decision made in tx for the rest of its batch.
func decided(tx *sqlstore.Tx, orderID string, d decision) {
	if ds, _ := tx.Value(decisionsKey{}).(decisions); ds != nil {
		ds[orderID] = d
	}
}

func (s *Service) reply(ctx context.Context, tx *sqlstore.Tx, orderID string, p events.Payload) error {
	msg, err := events.New(Name, orderID, p)
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, msg)
}

// Shipment is one order's shipment.
type Shipment struct {
	ID, OrderID, Carrier, TrackingNumber, Country string
	CreatedAt                                     time.Time
}

// ShipmentsFor lists the order's shipments (zero or one), oldest first.
func (s *Service) ShipmentsFor(ctx context.Context, orderID string) ([]Shipment, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (sh Shipment, err error) {
		err = r.Scan(&sh.ID, &sh.OrderID, &sh.Carrier, &sh.TrackingNumber, &sh.Country, &sh.CreatedAt)
		return sh, err
	}, `SELECT id, order_id, carrier, tracking_number, country, created_at
		FROM shipments WHERE order_id = $1 ORDER BY created_at, id`, orderID)
}

// ShipmentCount counts the order's shipments (zero or one).
func (s *Service) ShipmentCount(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipments WHERE order_id = $1`, orderID).Scan(&n)
	return n, err
}
