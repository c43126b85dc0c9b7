package order

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// dec parses a decimal literal; a typo in a test is a panic, not a silent zero.
func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestMain stops the throwaway PostgreSQL the tests start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newTestService opens a fresh SQLite database in the test's temp dir, migrates it and returns the
// order service on it.
func newTestService(t testing.TB) (*Service, *sqlstore.DB) {
	t.Helper()
	db := storetest.Open(t, storetest.SQLiteDSN(t), Name, messaging.Migrations, Migrations)
	return New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler)), db
}

// eachStore runs fn in a subtest per database: a fresh order service over SQLite, then over
// PostgreSQL (in the service's own schema, as in production; skipped when none can be had).
func eachStore(t *testing.T, fn func(t *testing.T, svc *Service, db *sqlstore.DB)) {
	t.Helper()
	storetest.Each(t, Name, Migrations, func(t *testing.T, db *sqlstore.DB) {
		fn(t, New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler)), db)
	})
}

// quickStart is the seed's quick-start order: 33 x 19.99 + 14.50 x 25 = 1022.17 USD.
func quickStart(customer uuid.UUID) *api.CreateOrderRequest {
	line2, postal := "Apt 4", "62704"
	return &api.CreateOrderRequest{
		CustomerId: customer,
		Currency:   "USD",
		Items: []api.OrderItemInput{
			{Sku: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")},
			{Sku: "SKU-COFFEE", Quantity: dec("14.50"), UnitPrice: dec("25")},
		},
		ShippingAddress: api.Address{
			Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace",
			AddressLine2: &line2, PostalCode: &postal,
		},
	}
}

// outboxRow is one row of the outbox table.
type outboxRow struct {
	Topic, Key, EventType, EventID, Source, Payload string
}

func readOutbox(t *testing.T, db *sqlstore.DB) []outboxRow {
	t.Helper()
	rows, err := db.DB.QueryContext(context.Background(),
		`SELECT topic, msg_key, event_type, event_id, source, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Topic, &r.Key, &r.EventType, &r.EventID, &r.Source, &r.Payload); err != nil {
			t.Fatalf("scan outbox: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return out
}

// decodeRow decodes an outbox row's payload as the consumer would.
func decodeRow(t *testing.T, r outboxRow) events.Payload {
	t.Helper()
	p, err := events.Envelope{ID: r.EventID, Type: events.Type(r.EventType), Source: r.Source, Subject: r.Key,
		Data: []byte(r.Payload)}.Decode()
	if err != nil {
		t.Fatalf("decode outbox row %+v: %v", r, err)
	}
	return p
}

func countRows(t *testing.T, db *sqlstore.DB, table string) int {
	t.Helper()
	var n int
	if err := db.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// feed sends one event to the saga the way the consumer does: a built envelope, decoded, applied
// in a transaction.
func feed(t *testing.T, svc *Service, db *sqlstore.DB, source, orderID string, p events.Payload) error {
	t.Helper()
	return storetest.Deliver(t, db, svc.Subscriptions()[0], source, orderID, p)
}

func mustCreate(t *testing.T, svc *Service, key string, req *api.CreateOrderRequest) Placed {
	t.Helper()
	p, err := svc.Create(context.Background(), key, requestFromAPI(req))
	if err != nil {
		t.Fatalf("create %q: %v", key, err)
	}
	return p
}

// sagaCols is an order's row as the saga keeps it.
type sagaCols struct {
	Status, FailureReason, Outcome, OutcomeReason    string
	Charged, Reserved, RefundPending, ReleasePending bool
	CancelPending                                    bool
	Attempts                                         int
	Version                                          int64
	HasDeadline                                      bool
	UpdatedAt                                        time.Time
}

func readSagaCols(t *testing.T, db *sqlstore.DB, id string) sagaCols {
	t.Helper()
	var c sagaCols
	if err := db.DB.QueryRowContext(context.Background(), `SELECT status, failure_reason, outcome, outcome_reason,
		charged, reserved, refund_pending, release_pending, cancel_pending, step_attempts, version,
		step_deadline IS NOT NULL, updated_at
		FROM orders WHERE id = $1`, id).Scan(&c.Status, &c.FailureReason, &c.Outcome, &c.OutcomeReason,
		&c.Charged, &c.Reserved, &c.RefundPending, &c.ReleasePending, &c.CancelPending, &c.Attempts, &c.Version, &c.HasDeadline,
		&c.UpdatedAt); err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c
}
