// Package storetest runs tests on both databases ordersys supports. Its helpers give a test a
// fresh, migrated database on SQLite and on PostgreSQL (see pgtest) and deliver events to a
// service the way its consumer does; its own tests are the store conformance suite: every store
// (outbox, inbox, idempotency keys and each service's tables) must behave the same on SQLite and
// PostgreSQL, through the one SQL code path they share.
//
// A package whose tests use it runs them under pgtest.Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// storetest imports messaging, so messaging's own tests that use it must be in package
// messaging_test (an import cycle otherwise); it imports no service package, so that every
// service's tests, in the package or outside it, can use it.
package storetest

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// applyTimeout bounds one Apply, so that a transaction stuck on a lock fails the test rather than
// hanging it. It is generous: tests run under -race on small machines.
const applyTimeout = 30 * time.Second

// Each runs fn in subtest "sqlite" on a fresh SQLite database and in subtest "postgres" on a
// fresh PostgreSQL one (skipped when none can be had; see pgtest). Each is opened for service and
// migrated with messaging.Migrations (outbox and inbox), then with migrations, the service's own.
func Each(t *testing.T, service string, migrations sqlstore.Migrations, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	EachDSN(t, func(t *testing.T, dsn string) { fn(t, Open(t, dsn, service, messaging.Migrations, migrations)) })
}

// EachDSN runs fn in subtest "sqlite" with the DSN of a fresh SQLite database (SQLiteDSN) and in
// subtest "postgres" with that of a fresh PostgreSQL one (pgtest.DSN; skipped when none can be
// had).
func EachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.DSN(t)) })
}

// SQLiteDSN returns the DSN of a new SQLite database file in a temporary directory of t's own.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// Open opens dsn for service with sqlstore.OpenService (on PostgreSQL, in the service's own
// schema, as in production), closes it when t ends, and migrates it with migrations, in order.
func Open(t testing.TB, dsn, service string, migrations ...sqlstore.Migrations) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenService(t.Context(), dsn, service)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(t.Context(), db, migrations...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Event is the messaging.Event a consumer would hand its subscription for a new message carrying
// p from source about subject (see messaging.NewEvent).
func Event(t testing.TB, source, subject string, p events.Payload) messaging.Event {
	t.Helper()
	ev, err := messaging.NewEvent(source, subject, p)
	if err != nil {
		t.Fatalf("build %T: %v", p, err)
	}
	return ev
}

// Apply applies batch through sub in one transaction, as a consumer applies a poll (see
// messaging.Consumer.ApplyBatch), and returns what the subscription's handler returned.
func Apply(t testing.TB, db *sqlstore.DB, sub messaging.Subscription, batch ...messaging.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	return messaging.NewConsumer(sub, db, nil, messaging.RetryConfig{}, slog.Default()).ApplyBatch(ctx, batch)
}

// Deliver applies p, as a fresh event from source about subject, through sub in a transaction of
// its own.
func Deliver(t testing.TB, db *sqlstore.DB, sub messaging.Subscription, source, subject string, p events.Payload) error {
	t.Helper()
	return Apply(t, db, sub, Event(t, source, subject, p))
}

// Replies decodes every message in db's outbox, oldest first.
func Replies(t testing.TB, db *sqlstore.DB) []events.Payload {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT event_type, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []events.Payload
	for rows.Next() {
		var typ, payload string
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		p, err := events.Envelope{Type: events.Type(typ), Data: json.RawMessage(payload)}.Decode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Strings runs query and returns the first column of its rows, as text, in the order it gives.
func Strings(t testing.TB, db *sqlstore.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
