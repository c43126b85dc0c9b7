// Package fulfillment is the fulfillment service: it hands an order to a carrier, once, answering
// the saga's commands with events; orders to countries it does not ship to fail.
package fulfillment

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

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

// ReasonCancelled records an order cancelled before it shipped; its commands are answered
// ShipmentCancelled.
const ReasonCancelled = "CANCELLED"

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
		Load: messaging.Stateful(loadDecisions, s.handle)}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, ds decisions, e messaging.Event) error {
	switch cmd := e.Payload.(type) {
	case *events.CreateShipment:
		d, fresh := s.decide(ds[cmd.OrderID], cmd)
		if fresh {
			record(tx, cmd.OrderID, cmd.CustomerID, cmd.Address, d, time.Now().UTC())
			ds[cmd.OrderID] = d
		}
		return s.outbox.Send(ctx, tx, Name, cmd.OrderID, d.reply(cmd.OrderID))
	case *events.CancelShipment:
		d, fresh := cancel(ds[cmd.OrderID])
		if fresh {
			record(tx, cmd.OrderID, "", events.Address{}, d, time.Now().UTC())
			ds[cmd.OrderID] = d
		}
		return s.outbox.Send(ctx, tx, Name, cmd.OrderID, d.reply(cmd.OrderID))
	default:
		return messaging.Permanent(fmt.Errorf("fulfillment service cannot handle %s", e.Payload.EventType()))
	}
}
