package storetest

import (
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// testQueuedWrites checks sqlstore's queued writes (InsertLater, ExecLater) on the inbox table:
// a transaction reads them, they run in the order they were queued, and one that fails takes the
// whole transaction with it.
func testQueuedWrites(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	now := time.Now().UTC()
	columns := []string{"consumer", "event_id", "received_at"}
	insert := `INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, $3)`
	count := func(tx *sqlstore.Tx, consumer string) (n int) {
		t.Helper()
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = $1`, consumer).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	committed := func(consumer string) (n int) {
		t.Helper()
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { n = count(tx, consumer); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// After a Flush the transaction reads its queued writes; they run in queue order whatever
	// their kind: the DELETE removes only the row queued before it.
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		tx.ExecLater("inbox", insert, "q", "a", now)
		tx.InsertLater("inbox", columns, "q", "b", now)
		tx.ExecLater("inbox", `DELETE FROM inbox WHERE consumer = $1 AND event_id = $2`, "q", "a")
		tx.InsertLater("inbox", columns, "q", "a", now)
		tx.InsertLater("inbox", columns, "q", "c", now)
		if n := count(tx, "q"); n != 0 {
			t.Errorf("the transaction saw %d of its queued rows before a Flush", n)
		}
		tx.Flush()
		if n := count(tx, "q"); n != 3 {
			t.Errorf("the transaction saw %d of its 3 queued rows", n)
		}
		tx.ExecLater("inbox", `DELETE FROM inbox WHERE consumer = $1 AND event_id = $2`, "q", "c")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := committed("q"); n != 2 {
		t.Errorf("%d rows committed, want 2 (a and b)", n)
	}

	// A queued write that fails at commit (the key is taken) fails the transaction, reports the
	// unique violation, and leaves nothing of the transaction behind.
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		tx.InsertLater("inbox", columns, "r", "x", now)
		tx.ExecLater("inbox", insert, "q", "a", now)
		return nil
	})
	if !sqlstore.IsUniqueViolation(err) {
		t.Errorf("commit with a queued duplicate: %v, want a unique violation", err)
	}
	if n := committed("r"); n != 0 {
		t.Errorf("%d rows of the failed transaction committed", n)
	}

	// A transaction that runs nothing commits nothing, and does not fail.
	if err := db.InTx(ctx, func(*sqlstore.Tx) error { return nil }); err != nil {
		t.Errorf("empty transaction: %v", err)
	}
}
