package messaging_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// TestDeadLetterReplayEndToEnd: a consumer dead-letters a message its handler cannot apply; once
// the cause is fixed a replay applies it, once, and a second replay changes nothing.
func TestDeadLetterReplayEndToEnd(t *testing.T) {
	producer, brokers := dlqCluster(t)
	ctx := dlqCtx(t)

	effectsSQL := sqlstore.Migrations{Table: "goose_dlqtest_version", FS: fstest.MapFS{
		"00001_effects.sql": {Data: []byte("-- +goose Up\nCREATE TABLE dlq_effects (event_id TEXT NOT NULL);\n")},
	}}
	db := storetest.Open(t, storetest.SQLiteDSN(t), "dlq", messaging.Migrations, effectsSQL)
	effects := func(id string) int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dlq_effects WHERE event_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var fixed atomic.Bool
	var mu sync.Mutex
	calls := map[string]int{}
	handle := func(ctx context.Context, tx *sqlstore.Tx, ev messaging.Event) error {
		e := ev.Envelope
		mu.Lock()
		calls[e.ID]++
		mu.Unlock()
		if !fixed.Load() {
			return messaging.Permanent(errors.New("the cause is not fixed yet"))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO dlq_effects (event_id) VALUES ($1)`, e.ID)
		return err
	}
	callsFor := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[id]
	}

	logs := &logRecorder{}
	t.Cleanup(func() {
		if t.Failed() {
			logs.mu.Lock()
			defer logs.mu.Unlock()
			for _, r := range logs.records {
				t.Log(r)
			}
		}
	})
	sub := messaging.Subscription{Name: "dlq-e2e", Topics: []string{"t"}, Load: messaging.Stateless(handle)}
	consumer := messaging.NewConsumer(sub, db, newClient(t, brokers), messaging.RetryConfig{Base: time.Millisecond, Cap: 10 * time.Millisecond}, slog.New(logs))
	startConsumer(t, consumer, brokers)

	m := chargeRecord(t, "t", "order-1", 10)
	mID, _ := header(m, messaging.HdrID)
	produce(t, producer, m)

	var dls []messaging.DeadLetter
	var err error
	waitFor(t, "the message to be dead-lettered", func() bool {
		listCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		dls, err = messaging.ListDeadLetters(listCtx, producer, []string{"t.dlq"})
		return err == nil && len(dls) == 1
	})
	dl := dls[0]
	if dl.EventID != mID || dl.OriginalTopic != "t" || dl.OriginalOffset != m.Offset || dl.Consumer != "dlq-e2e" ||
		!strings.Contains(dl.Error, "the cause is not fixed yet") || dl.Attempts != 1 {
		t.Errorf("dead letter = %+v", dl)
	}
	if n := effects(mID); n != 0 {
		t.Fatalf("dead-lettered message applied %d times", n)
	}
	failedCalls := callsFor(mID)

	// The cause is fixed: replay.
	fixed.Store(true)
	if _, err := messaging.ReplayDeadLetter(ctx, producer, dl.ID); err != nil {
		t.Fatalf("replay: %v", err)
	}
	waitFor(t, "the replayed message to be applied", func() bool { return effects(mID) > 0 })

	// Again: the inbox knows the event id. A message behind it on the same partition shows when the
	// second replay has been consumed.
	if _, err := messaging.ReplayDeadLetter(ctx, producer, dl.ID); err != nil {
		t.Fatalf("second replay: %v", err)
	}
	after := chargeRecord(t, "t", "order-1", 11)
	afterID, _ := header(after, messaging.HdrID)
	produce(t, producer, after)
	waitFor(t, "the message after the second replay to be applied", func() bool { return effects(afterID) > 0 })

	if n := effects(mID); n != 1 {
		t.Errorf("replayed message applied %d times, want 1", n)
	}
	if n := callsFor(mID) - failedCalls; n != 1 {
		t.Errorf("handler ran %d times for the message after the fix, want 1 (the inbox skips the second replay)", n)
	}
	if got, err := messaging.ListDeadLetters(ctx, producer, []string{"t.dlq"}); err != nil || len(got) != 1 {
		t.Errorf("DLQ after the replays holds %d records (%v), want the 1 original", len(got), err)
	}
	onT := readAll(t, brokers, "t")
	if len(onT) != 4 {
		t.Fatalf("t holds %d records, want 4 (message, 2 replays, next message)", len(onT))
	}
	for _, r := range onT[1:3] {
		if id, _ := header(r, messaging.HdrID); id != mID {
			t.Errorf("replay carries event id %q, want %q", id, mID)
		}
	}
}
