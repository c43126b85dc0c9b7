package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func testInbox(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	id := uuid.NewString()
	claim := func(consumer string) bool {
		var fresh bool
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) (err error) {
			fresh, err = messaging.Claim(ctx, tx, consumer, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !claim("a") || claim("a") || !claim("b") {
		t.Error("an event is claimed once per consumer")
	}
	// A claim rolled back with its transaction is no claim at all.
	other := uuid.NewString()
	errRollback := errors.New("rollback")
	_ = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, _ = messaging.Claim(ctx, tx, "a", other)
		return errRollback
	})
	id = other
	if !claim("a") {
		t.Error("a rolled-back claim still counted")
	}
	// Concurrent claims of one event: exactly one wins.
	id = uuid.NewString()
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if claim("c") {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent claims won, want 1", wins)
	}

	// A batch claims in one statement: an event already applied, or listed a second time, is not fresh.
	x, y, z := uuid.NewString(), uuid.NewString(), id
	var fresh []bool
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) (err error) {
		fresh, err = messaging.ClaimAll(ctx, tx, "c", []string{x, y, x, z})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fresh) != "[true true false false]" {
		t.Errorf("ClaimAll(x, y, x, already claimed) = %v, want [true true false false]", fresh)
	}
	id = y
	if claim("c") {
		t.Error("an event claimed in a batch was claimed again")
	}

	// A flushed row that cannot be inserted fails the statement after the Flush, and the
	// transaction reports the insert as the cause.
	var stmtErr error
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		tx.InsertLater("inbox", []string{"consumer", "event_id", "received_at"}, "d", nil, time.Now().UTC())
		tx.Flush()
		_, stmtErr = tx.ExecContext(ctx, `DELETE FROM inbox WHERE consumer = $1`, "nobody")
		return stmtErr
	})
	if stmtErr == nil || !strings.Contains(stmtErr.Error(), "write to inbox") ||
		err == nil || !strings.Contains(err.Error(), "write to inbox") {
		t.Errorf("statement after a failing queued insert: %v; transaction: %v; want both to name the insert", stmtErr, err)
	}
}
