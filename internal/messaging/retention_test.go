package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// retentionDBs runs fn on a fresh database with the messaging tables, on SQLite and on PostgreSQL.
func retentionDBs(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) { fn(t, storetest.Open(t, dsn, "retention", messaging.Migrations)) })
}

// claimAt claims each event for consumer, as the consumer does, then backdates its received_at.
func claimAt(t *testing.T, db *sqlstore.DB, consumer string, at map[string]time.Time) {
	t.Helper()
	ctx := t.Context()
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		for id, when := range at {
			if fresh, err := messaging.Claim(ctx, tx, consumer, id); err != nil || !fresh {
				return fmt.Errorf("claim %s: fresh %v, err %v", id, fresh, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE inbox SET received_at = $1 WHERE consumer = $2 AND event_id = $3`,
				when.UTC(), consumer, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
}

// inboxRows lists the inbox as "consumer/event", sorted.
func inboxRows(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	return slices.Sorted(slices.Values(storetest.Strings(t, db, `SELECT consumer || '/' || event_id FROM inbox`)))
}

func TestPruneInbox(t *testing.T) {
	retentionDBs(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Microsecond)
		cutoff := now.Add(-messaging.DefaultInboxRetention)

		// 50 old rows over two consumers (and one event id shared by both: the key is the pair),
		// with the newest just before the cutoff; 20 recent ones, the oldest just after it.
		// Sub-second offsets vary so that SQLite's text timestamps are compared at every length.
		old := map[string]map[string]time.Time{"a": {}, "b": {}}
		recent := map[string]map[string]time.Time{"a": {}, "b": {}}
		var wantKept []string
		for i := range 50 {
			c := []string{"a", "b"}[i%2]
			at := cutoff.Add(-time.Duration(i)*time.Hour - time.Duration(i*i*7919)*time.Microsecond)
			if i == 0 {
				at = cutoff.Add(-time.Millisecond)
			}
			old[c][fmt.Sprintf("old-%02d", i)] = at
		}
		old["b"]["shared"] = cutoff.Add(-2 * time.Hour)
		delete(old["b"], "old-49") // still 50 old rows
		for i := range 20 {
			c := []string{"a", "b"}[i%2]
			at := cutoff.Add(time.Duration(i)*time.Hour + time.Duration(i*i*7919)*time.Microsecond)
			if i == 0 {
				at = cutoff.Add(time.Millisecond)
			}
			id := fmt.Sprintf("new-%02d", i)
			recent[c][id] = at
			wantKept = append(wantKept, c+"/"+id)
		}
		recent["a"]["shared"] = now
		wantKept = append(wantKept, "a/shared")
		slices.Sort(wantKept)
		for _, c := range []string{"a", "b"} {
			claimAt(t, db, c, old[c])
			claimAt(t, db, c, recent[c])
		}
		if n := len(inboxRows(t, db)); n != 71 {
			t.Fatalf("inbox has %d rows before pruning, want 71", n)
		}

		// One batch deletes exactly batch rows: the statement is bounded.
		var first int64
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			res, err := tx.ExecContext(ctx, messaging.PruneInboxSQL, cutoff, 7)
			if err != nil {
				return err
			}
			first, err = res.RowsAffected()
			return err
		}); err != nil {
			t.Fatalf("one batch: %v", err)
		}
		if first != 7 {
			t.Fatalf("one batch of 7 deleted %d rows", first)
		}

		// The cutoff in another time zone means the same instant.
		n, err := messaging.PruneInbox(ctx, db, cutoff.In(time.FixedZone("UTC+5", 5*3600)), 7)
		if err != nil {
			t.Fatalf("PruneInbox: %v", err)
		}
		if n != 50-7 {
			t.Errorf("PruneInbox deleted %d rows, want %d", n, 50-7)
		}
		if got := inboxRows(t, db); !slices.Equal(got, wantKept) {
			t.Errorf("inbox after pruning =\n%v\nwant\n%v", got, wantKept)
		}

		// Nothing left to prune.
		if n, err := messaging.PruneInbox(ctx, db, cutoff, 7); err != nil || n != 0 {
			t.Errorf("second PruneInbox = %d, %v; want 0, nil", n, err)
		}

		// A multiple of the batch size: the last full batch is followed by an empty one.
		more := map[string]time.Time{}
		for i := range 14 {
			more[fmt.Sprintf("more-%02d", i)] = cutoff.Add(-time.Duration(i+1) * time.Minute)
		}
		claimAt(t, db, "c", more)
		if n, err := messaging.PruneInbox(ctx, db, cutoff, 7); err != nil || n != 14 {
			t.Errorf("PruneInbox of 14 rows in batches of 7 = %d, %v; want 14, nil", n, err)
		}
		// Default batch size and a cutoff after everything.
		if n, err := messaging.PruneInbox(ctx, db, now.Add(time.Hour), 0); err != nil || n != int64(len(wantKept)) {
			t.Errorf("PruneInbox of everything = %d, %v; want %d, nil", n, err, len(wantKept))
		}
		if got := inboxRows(t, db); len(got) != 0 {
			t.Errorf("inbox not empty: %v", got)
		}

		// A cancelled context stops it.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := messaging.PruneInbox(cancelled, db, now, 7); !errors.Is(err, context.Canceled) {
			t.Errorf("PruneInbox with a cancelled context: %v, want context.Canceled", err)
		}
	})
}

// TestPruneInboxClaimedNow prunes rows exactly as Claim wrote them, without backdating: the
// timestamps Claim stores and the cutoff PruneInbox passes must compare correctly.
func TestPruneInboxClaimedNow(t *testing.T) {
	retentionDBs(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		before := time.Now()
		for i := range 3 {
			if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
				_, err := messaging.Claim(ctx, tx, "x", fmt.Sprint(i))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := messaging.PruneInbox(ctx, db, before.Add(-time.Second), 2); err != nil || n != 0 {
			t.Errorf("PruneInbox before the claims = %d, %v; want 0, nil", n, err)
		}
		if n, err := messaging.PruneInbox(ctx, db, time.Now().Add(time.Second), 2); err != nil || n != 3 {
			t.Errorf("PruneInbox after the claims = %d, %v; want 3, nil", n, err)
		}
	})
}

func TestRunRetention(t *testing.T) {
	var good, failing, panicking, idle atomic.Int64
	var notUTC atomic.Bool
	pruners := []func(context.Context, time.Time) (int64, error){
		func(_ context.Context, now time.Time) (int64, error) {
			if now.Location() != time.UTC {
				notUTC.Store(true)
			}
			good.Add(1)
			return 3, nil
		},
		func(context.Context, time.Time) (int64, error) {
			failing.Add(1)
			return 1, errors.New("database on fire")
		},
		func(context.Context, time.Time) (int64, error) {
			panicking.Add(1)
			panic("pruner bug")
		},
		nil,
		func(context.Context, time.Time) (int64, error) {
			idle.Add(1)
			return 0, nil
		},
	}
	logs := &logRecorder{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		messaging.RunRetention(ctx, messaging.RetentionConfig{Interval: 5 * time.Millisecond}, slog.New(logs), pruners...)
	}()

	waitFor(t, "three rounds", func() bool { return idle.Load() >= 3 })
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("RunRetention did not return after its context ended")
	}
	rounds := good.Load()
	for name, n := range map[string]int64{"failing": failing.Load(), "panicking": panicking.Load(), "idle": idle.Load()} {
		if n < 3 || n > rounds || n < rounds-1 {
			t.Errorf("%s pruner ran %d times, the first %d: every pruner runs every round", name, n, rounds)
		}
	}
	if notUTC.Load() {
		t.Error("a pruner was given a time not in UTC")
	}
	if n := logs.count("INFO retention: pruned expired rows pruner=0 deleted=3"); int64(n) != rounds {
		t.Errorf("%d info logs for pruner 0, want %d (one per round): %v", n, rounds, logs.records)
	}
	if n := logs.count("WARN retention: pruning failed pruner=1 deleted=1 err=database on fire"); n < 3 {
		t.Errorf("%d warnings for pruner 1, want one per round: %v", n, logs.records)
	}
	if n := logs.count("WARN retention: pruning failed pruner=2 deleted=0 err=pruner panicked: pruner bug"); n < 3 {
		t.Errorf("%d warnings for pruner 2, want one per round: %v", n, logs.records)
	}
	if n := logs.count("INFO retention: pruned expired rows pruner=4"); n != 0 {
		t.Errorf("logged %d times for a pruner that deleted nothing", n)
	}

	// Stopped means stopped.
	time.Sleep(30 * time.Millisecond)
	if good.Load() != rounds {
		t.Errorf("a pruner ran after RunRetention returned")
	}
}

func TestRunRetentionPrunesInbox(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteDSN(t), "retention", messaging.Migrations)
	claimAt(t, db, "a", map[string]time.Time{
		"old-1": time.Now().Add(-25 * time.Hour), "old-2": time.Now().Add(-48 * time.Hour), "new": time.Now(),
	})
	cfg := messaging.RetentionConfig{Inbox: 24 * time.Hour, Interval: time.Hour, BatchSize: 1}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		messaging.RunRetention(ctx, cfg, nil, messaging.InboxPruner(db, cfg)) // nil logger: allowed
	}()
	// The first round runs at once, not after Interval.
	waitFor(t, "old inbox rows pruned", func() bool { return len(inboxRows(t, db)) == 1 })
	cancel()
	<-done
	if got := inboxRows(t, db); !slices.Equal(got, []string{"a/new"}) {
		t.Errorf("inbox = %v, want [a/new]", got)
	}
}
