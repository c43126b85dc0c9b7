package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// startRelay runs the outbox relay until the test ends.
func startRelay(t *testing.T, o *messaging.Outbox, db *sqlstore.DB, brokers []string, cfg messaging.RelayConfig) {
	t.Helper()
	producer, log := newClient(t, brokers), newLogger(t)
	start(t, "RunRelay", func(ctx context.Context) error { return o.RunRelay(ctx, db, producer, cfg, log) })
}

// 6. The relay publishes every committed outbox row, in order per key, and empties the outbox;
// rows of a rolled-back transaction are never published.
func TestRelay(t *testing.T) {
	const (
		writers   = 4
		perWriter = 75 // N = 300
		topic     = events.TopicPaymentCommands
	)
	brokers := newBroker(t, 3, topic)
	db := newDB(t)
	o := messaging.NewOutbox()
	// A long poll: only the wake from each committed Put can get rows published in time. A small
	// batch makes the relay take several rounds.
	startRelay(t, o, db, brokers, messaging.RelayConfig{BatchSize: 16, Poll: time.Hour})

	ctx := context.Background()
	written := make(map[string]events.Message) // by event id
	var writtenMu sync.Mutex
	var rolledBack []string
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		key := fmt.Sprintf("order-%d", w)
		wg.Go(func() {
			for seq := 0; seq < perWriter; {
				// Transactions of 1 to 7 messages.
				size := min(1+(seq+w)%7, perWriter-seq)
				var msgs []events.Message
				for i := range size {
					m, err := events.New("test", key, events.ChargePayment{
						OrderID: key, CustomerID: "c", Amount: decimalOf(seq + i), Currency: "EUR",
					})
					if err != nil {
						errs <- err
						return
					}
					m.Envelope.TraceParent = fmt.Sprintf("00-%032x-%016x-01", seq+i+1, w+1)
					msgs = append(msgs, m)
				}
				if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, msgs...) }); err != nil {
					errs <- err
					return
				}
				writtenMu.Lock()
				for _, m := range msgs {
					written[m.Envelope.ID] = m
				}
				writtenMu.Unlock()
				seq += size

				// Now and then a transaction that writes to the outbox and then rolls back.
				if seq%20 < size {
					ghost, err := events.New("test", key, events.ChargePayment{
						OrderID: key, CustomerID: "ghost", Amount: decimalOf(-1), Currency: "EUR",
					})
					if err != nil {
						errs <- err
						return
					}
					boom := errors.New("rolled back")
					err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
						if err := o.Put(ctx, tx, ghost); err != nil {
							return err
						}
						return boom
					})
					if !errors.Is(err, boom) {
						errs <- fmt.Errorf("rolled-back transaction: %v", err)
						return
					}
					writtenMu.Lock()
					rolledBack = append(rolledBack, ghost.Envelope.ID)
					writtenMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(written) != writers*perWriter || len(rolledBack) == 0 {
		t.Fatalf("wrote %d messages and %d rolled back, want %d and some", len(written), len(rolledBack), writers*perWriter)
	}

	// A sentinel written last: once it is consumed, every earlier row has been published.
	sentinel := charge(t, "sentinel", 0)
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, sentinel) }); err != nil {
		t.Fatal(err)
	}
	want := writers*perWriter + 1
	records := consumeAll(t, brokers, topic, want)

	next := make(map[string]int64) // next expected sequence number per key
	seen := make(map[string]bool)
	for _, r := range records {
		e, err := messaging.FromRecord(r)
		if err != nil {
			t.Fatalf("published record at %d/%d: %v", r.Partition, r.Offset, err)
		}
		if seen[e.ID] {
			t.Errorf("event %s published twice", e.ID)
		}
		seen[e.ID] = true
		if e.ID == sentinel.Envelope.ID {
			continue
		}
		m, ok := written[e.ID]
		if !ok {
			t.Errorf("published event %s (key %s) was never committed", e.ID, r.Key)
			continue
		}
		if r.Topic != m.Topic || string(r.Key) != m.Key || e.Type != m.Envelope.Type ||
			e.Source != m.Envelope.Source || e.Subject != m.Key || e.TraceParent != m.Envelope.TraceParent ||
			!e.Time.Equal(m.Envelope.Time) || !bytes.Equal(e.Data, m.Envelope.Data) {
			t.Errorf("published event differs from the one written:\n got  %s %s %+v\n want %+v", r.Topic, r.Key, e, m)
		}
		p, err := e.Decode()
		if err != nil {
			t.Fatalf("decode %s: %v", e.ID, err)
		}
		n := p.(*events.ChargePayment).Amount.IntPart()
		if n != next[m.Key] {
			t.Errorf("key %s: got sequence %d, want %d (out of order)", m.Key, n, next[m.Key])
		}
		next[m.Key] = n + 1
	}
	for w := range writers {
		key := fmt.Sprintf("order-%d", w)
		if next[key] != perWriter {
			t.Errorf("key %s: received up to sequence %d, want %d", key, next[key]-1, perWriter-1)
		}
	}
	for _, id := range rolledBack {
		if seen[id] {
			t.Errorf("message %s of a rolled-back transaction was published", id)
		}
	}
	if got := endOffsets(t, brokers, topic); got != int64(want) {
		t.Errorf("%d records on %s, want exactly %d", got, topic, want)
	}
	waitFor(t, "the outbox to empty", func() bool {
		return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0
	})
}

func decimalOf(n int) decimal.Decimal { return decimal.NewFromInt(int64(n)) }

// The relay is woken by the commit, not by the Put: a row written in a transaction that is still
// open when the relay looks is published once the transaction commits, with no poll to rescue it.
func TestRelayWakesAfterCommit(t *testing.T) {
	const topic = events.TopicPaymentCommands
	brokers := newBroker(t, 1, topic)
	db := newDB(t)
	o := messaging.NewOutbox()
	startRelay(t, o, db, brokers, messaging.RelayConfig{Poll: time.Hour})
	ctx := context.Background()

	// The relay is running and idle once a first message has gone through and been deleted.
	first := charge(t, "order-1", 1)
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, first) }); err != nil {
		t.Fatal(err)
	}
	consumeAll(t, brokers, topic, 1)
	waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })

	second := charge(t, "order-1", 2)
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := o.Put(ctx, tx, second); err != nil {
			return err
		}
		// Keep the transaction open long enough for a premature wake-up to find nothing.
		time.Sleep(200 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	records := consumeAll(t, brokers, topic, 2)
	if e, err := messaging.FromRecord(records[1]); err != nil || e.ID != second.Envelope.ID {
		t.Fatalf("second record = %+v (%v), want event %s", e, err, second.Envelope.ID)
	}
	waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })
}

// TestRelayVacuumsOutbox checks that on PostgreSQL the relay vacuums the outbox once it has
// deleted VacuumEvery rows, so that its reads do not walk dead rows until autovacuum comes.
func TestRelayVacuumsOutbox(t *testing.T) {
	const topic, n = events.TopicPaymentCommands, 50
	brokers := newBroker(t, 1, topic)
	ctx := t.Context()
	db := storetest.Open(t, pgtest.DSN(t), "relay_vacuum", messaging.Migrations)
	vacuums := func() int {
		return count(t, db, `SELECT vacuum_count FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = 'outbox'`)
	}
	before := vacuums()
	o := messaging.NewOutbox()
	startRelay(t, o, db, brokers, messaging.RelayConfig{BatchSize: 16, Poll: time.Hour, VacuumEvery: 20})
	var msgs []events.Message
	for i := range n {
		msgs = append(msgs, charge(t, "order-1", int64(i)))
	}
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, msgs...) }); err != nil {
		t.Fatal(err)
	}
	consumeAll(t, brokers, topic, n)
	waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })
	waitFor(t, "a vacuum of the outbox", func() bool { return vacuums() > before })
}

// One commit of more rows than a batch holds wakes the relay once; it keeps publishing full
// batches until the backlog is gone, in order.
func TestRelayDrainsBacklog(t *testing.T) {
	const (
		topic = events.TopicPaymentCommands
		n     = 50
	)
	brokers := newBroker(t, 1, topic)
	db := newDB(t)
	o := messaging.NewOutbox()
	startRelay(t, o, db, brokers, messaging.RelayConfig{BatchSize: 16, Poll: time.Hour})
	ctx := context.Background()

	var msgs []events.Message
	for i := range n {
		msgs = append(msgs, charge(t, "order-1", int64(i)))
	}
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, msgs...) }); err != nil {
		t.Fatal(err)
	}
	records := consumeAll(t, brokers, topic, n)
	for i, r := range records {
		e, err := messaging.FromRecord(r)
		if err != nil || e.ID != msgs[i].Envelope.ID {
			t.Fatalf("record %d = %+v (%v), want event %s", i, e, err, msgs[i].Envelope.ID)
		}
	}
	waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })
	if got := endOffsets(t, brokers, topic); got != n {
		t.Errorf("%d records on %s, want %d", got, topic, n)
	}
}
