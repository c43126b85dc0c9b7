package order

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// dec parses a decimal literal; a typo in a test is a panic, not a silent zero.
func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// newTestService opens a fresh SQLite database in the test's temp dir, migrates it and returns the
// order service on it.
func newTestService(t *testing.T) (*Service, *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "order.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(ctx, db, messaging.Migrations, Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler)), db
}

// newPostgresService creates a fresh PostgreSQL database (see pgtest; the test is skipped when
// none can be had), migrates the service's schema in it and returns the order service on it.
func newPostgresService(t *testing.T) (*Service, *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenService(ctx, pgtest.DSN(t), Name)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(ctx, db, messaging.Migrations, Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler)), db
}

// eachStore runs fn in a subtest per database: a fresh order service over SQLite, then over
// PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, svc *Service, db *sqlstore.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		svc, db := newTestService(t)
		fn(t, svc, db)
	})
	t.Run("postgres", func(t *testing.T) {
		svc, db := newPostgresService(t)
		fn(t, svc, db)
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
	ev, err := messaging.NewEvent(source, orderID, p)
	if err != nil {
		t.Fatalf("build %T: %v", p, err)
	}
	c := messaging.NewConsumer(svc.Subscriptions()[0], db, nil, messaging.RetryConfig{}, slog.Default())
	return c.ApplyBatch(context.Background(), []messaging.Event{ev})
}

func mustCreate(t *testing.T, svc *Service, key string, req *api.CreateOrderRequest) Placed {
	t.Helper()
	p, err := svc.Create(context.Background(), key, requestFromAPI(req))
	if err != nil {
		t.Fatalf("create %q: %v", key, err)
	}
	return p
}
