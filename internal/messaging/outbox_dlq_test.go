package messaging_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// smallLimit is the max.message.bytes of the topic in the tests: the normal rows, even all of
// them in one batch, fit under it; the big one does not.
const smallLimit = 16 << 10

// bigMessage is a message for order far over smallLimit, even compressed (its padding is random),
// and under kgo's own batch limit, so that it is the broker that refuses it.
func bigMessage(t *testing.T, order string) events.Message {
	t.Helper()
	m := charge(t, order, 0)
	pad := make([]byte, 4*smallLimit)
	rand.Read(pad)
	m.Envelope.Data = []byte(`{"orderId":"` + order + `","pad":"` + base64.StdEncoding.EncodeToString(pad) + `"}`)
	return m
}

// setMaxMessageBytes sets the topic's max.message.bytes on the broker.
func setMaxMessageBytes(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	v := strconv.Itoa(n)
	rs, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = rs.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("set max.message.bytes of %s to %d: %v", topic, n, err)
	}
}

// outboxDeadLetterRows counts the outbox dead letters of db.
func outboxDeadLetterRows(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	return count(t, db, `SELECT COUNT(*) FROM outbox_dead_letters`)
}

// TestRelayMovesRefusedRowAside: an outbox row the broker refuses for good (larger than the
// topic's max.message.bytes) is moved to the outbox dead letters after MaxRefusals refusals, with
// an error log naming it, and the rows around it, in the same batch and behind it, of other keys
// and of its own, reach Kafka. The DLQ listing of the process shows it; once the limit is raised,
// a replay puts it back in the outbox and the relay publishes it. On both databases.
func TestRelayMovesRefusedRowAside(t *testing.T) {
	const topic = events.TopicPaymentCommands
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		db := storetest.Open(t, dsn, "relaydlq", messaging.Migrations)
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers := c.ListenAddrs()
		admin := newClient(t, brokers)
		setMaxMessageBytes(t, admin, topic, smallLimit)

		// Lingering, the producer sends what the relay gives it in one go as one batch, which the
		// broker refuses whole: the row behind the big one, of its key, is refused with it.
		producer := newClient(t, brokers, kgo.ProducerLinger(20*time.Millisecond))
		logs := &logRecorder{}
		o := messaging.NewOutbox()
		start(t, "RunRelay", func(ctx context.Context) error {
			return o.RunRelay(ctx, db, producer, messaging.RelayConfig{
				Poll: time.Hour, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			}, slog.New(logs))
		})
		ctx := t.Context()

		// One commit, so that the relay reads them all in one round and sends them in one batch
		// (which the broker refuses whole, the big record being in it): two rows before the big
		// one, then one of its key, then two more.
		big := bigMessage(t, "order-bad")
		before := []events.Message{charge(t, "order-1", 1), charge(t, "order-2", 2)}
		sameKey := charge(t, "order-bad", 3)
		after := []events.Message{charge(t, "order-3", 4), charge(t, "order-1", 5)}
		msgs := append(append(append([]events.Message{}, before...), big, sameKey), after...)
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, msgs...) }); err != nil {
			t.Fatal(err)
		}

		normal := append(append(append([]events.Message{}, before...), sameKey), after...)
		records := consumeAll(t, brokers, topic, len(normal))
		got := map[string]bool{}
		for _, r := range records {
			e, err := messaging.FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			got[e.ID] = true
		}
		for _, m := range normal {
			if !got[m.Envelope.ID] {
				t.Errorf("row %s (key %s) did not reach Kafka", m.Envelope.ID, m.Key)
			}
		}
		// The row of its key behind it waited for it to be moved aside: the others went first.
		if e, err := messaging.FromRecord(records[len(records)-1]); err != nil || e.ID != sameKey.Envelope.ID {
			t.Errorf("last record is %s (%v), want the row behind the big one, of its key, %s", e.ID, err, sameKey.Envelope.ID)
		}
		t.Cleanup(func() {
			if t.Failed() {
				logs.mu.Lock()
				defer logs.mu.Unlock()
				for _, r := range logs.records {
					t.Log(r[:min(len(r), 400)])
				}
			}
		})
		waitFor(t, "the big row in the outbox dead letters and the outbox empty", func() bool {
			return outboxDeadLetterRows(t, db) == 1 && count(t, db, `SELECT COUNT(*) FROM outbox`) == 0
		})
		if n := endOffsets(t, brokers, topic); n != int64(len(normal)) {
			t.Errorf("%d records on %s, want the %d normal ones", n, topic, len(normal))
		}

		letters, err := messaging.OutboxDeadLetters(ctx, db)
		if err != nil || len(letters) != 1 {
			t.Fatalf("outbox dead letters = %+v (%v), want the big row", letters, err)
		}
		dl := letters[0]
		if !strings.HasPrefix(dl.ID, messaging.OutboxDLQ+":") || dl.Topic != messaging.OutboxDLQ ||
			dl.OriginalTopic != topic || dl.Key != "order-bad" || dl.EventID != big.Envelope.ID ||
			dl.EventType != string(big.Envelope.Type) || dl.Attempts != messaging.DefaultMaxRefusals ||
			dl.Consumer != "test-relay" || !strings.Contains(dl.Error, "MESSAGE_TOO_LARGE") ||
			dl.OriginalPartition != -1 || dl.OriginalOffset != -1 || time.Since(dl.DeadLetteredAt) > time.Minute {
			t.Errorf("outbox dead letter %+v", dl)
		}
		if n := logs.count("ERROR the broker refused an outbox record for good; moved it"); n != 1 {
			t.Errorf("%d error logs of the move, want 1; logs: %v", n, logs.records)
		}
		logs.mu.Lock()
		for _, r := range logs.records {
			if strings.HasPrefix(r, "ERROR") && (!strings.Contains(r, "outbox_id=") || !strings.Contains(r, "topic="+topic) ||
				!strings.Contains(r, "MESSAGE_TOO_LARGE") || !strings.Contains(r, "dead_letter="+dl.ID)) {
				t.Errorf("the error log lacks the row's id, topic, the broker's error or the dead letter: %s", r)
			}
		}
		logs.mu.Unlock()

		// The process's DLQ listing reaches it through the service's outbox and database.
		if dl.State != messaging.StatePending || !dl.StateAt.IsZero() || string(dl.Payload) != string(big.Envelope.Data) ||
			dl.Headers["ce_id"] != big.Envelope.ID || dl.Headers["ce_type"] != string(big.Envelope.Type) ||
			dl.Headers["ce_subject"] != "order-bad" || dl.Headers["content-type"] != "application/json" {
			t.Errorf("outbox dead letter: state %s at %v, headers %v, %d bytes of payload", dl.State, dl.StateAt, dl.Headers, len(dl.Payload))
		}
		relayed := []messaging.Relayed{{Outbox: o, DB: db}}
		listed, err := messaging.ListRelayedDeadLetters(ctx, relayed)
		if err != nil || len(listed) != 1 || !reflect.DeepEqual(listed[0], dl) {
			t.Errorf("relayed dead letters = %+v, %v; want %+v", listed, err, dl)
		}
		for _, id := range []string{messaging.OutboxDLQ + ":nope", "payments.commands.dlq:0:0"} {
			if _, err := messaging.ReplayRelayedDeadLetter(ctx, relayed, id); !errors.Is(err, messaging.ErrDeadLetterNotFound) {
				t.Errorf("replay of %s: %v, want ErrDeadLetterNotFound", id, err)
			}
		}

		// The operator raises the limit and replays it: back in the outbox, then on Kafka.
		setMaxMessageBytes(t, admin, topic, 1<<20)
		replayed, err := messaging.ReplayRelayedDeadLetter(ctx, relayed, dl.ID)
		if err != nil || replayed.State != messaging.StateReplayed || time.Since(replayed.StateAt) > time.Minute {
			t.Fatalf("replay = %s at %v, %v; want it replayed now", replayed.State, replayed.StateAt, err)
		}
		replayedAt := replayed.StateAt
		if replayed.State, replayed.StateAt = dl.State, dl.StateAt; !reflect.DeepEqual(replayed, dl) {
			t.Errorf("replay = %+v, want %+v", replayed, dl)
		}
		records = consumeAll(t, brokers, topic, len(normal)+1)
		if e, err := messaging.FromRecord(records[len(records)-1]); err != nil || e.ID != big.Envelope.ID ||
			len(e.Data) != len(big.Envelope.Data) {
			t.Errorf("last record = %s (%v), want the big event %s", e.ID, err, big.Envelope.ID)
		}
		waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })
		// It stays listed, replayed.
		if listed, err := messaging.ListRelayedDeadLetters(ctx, relayed); err != nil || len(listed) != 1 ||
			listed[0].State != messaging.StateReplayed || !listed[0].StateAt.Equal(replayedAt) {
			t.Errorf("outbox dead letters after the replay = %d, %v; want it, replayed at %v", len(listed), err, replayedAt)
			for _, l := range listed {
				t.Logf("%s: %s at %v", l.ID, l.State, l.StateAt)
			}
		}
	})
}

// TestOutboxDeadLetterStates: an outbox dead letter discarded stays listed, discarded, and is never
// replayed; discarding it again changes nothing. One replayed stays listed, replayed, cannot be
// discarded, and may be replayed again. The state is in the database: another process's listing
// shows it. On both databases.
func TestOutboxDeadLetterStates(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		db := storetest.Open(t, dsn, "dlqstate", messaging.Migrations)
		ctx := t.Context()
		deadLetter := func(uid string, m events.Message) string {
			t.Helper()
			e := m.Envelope
			if _, err := db.ExecContext(ctx, `INSERT INTO outbox_dead_letters (id, outbox_id, topic, msg_key, event_id,
				event_type, source, event_time, traceparent, tracestate, payload, error, attempts, dead_lettered_at)
				VALUES ($1, 1, $2, $3, $4, $5, $6, $7, '', '', $8, 'MESSAGE_TOO_LARGE', 3, $9)`,
				uid, m.Topic, m.Key, e.ID, string(e.Type), e.Source, e.Time.UTC(), string(e.Data), time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			return messaging.OutboxDLQ + ":" + uid
		}
		o := messaging.NewOutbox()
		relayed := []messaging.Relayed{{Outbox: o, DB: db}}
		discardID := deadLetter(uuid.NewString(), charge(t, "order-1", 1))
		replayID := deadLetter(uuid.NewString(), charge(t, "order-2", 2))
		stateOf := func(id string) messaging.DeadLetter {
			t.Helper()
			// A fresh listing, as another process makes it: the state is in the database.
			letters, err := messaging.OutboxDeadLetters(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			for _, dl := range letters {
				if dl.ID == id {
					return dl
				}
			}
			t.Fatalf("%s is not listed: %+v", id, letters)
			return messaging.DeadLetter{}
		}
		outboxRows := func() int { return count(t, db, `SELECT COUNT(*) FROM outbox`) }

		if dl := stateOf(discardID); dl.State != messaging.StatePending || !dl.StateAt.IsZero() {
			t.Errorf("new dead letter is %s at %v, want pending", dl.State, dl.StateAt)
		}
		discarded, err := messaging.DiscardRelayedDeadLetter(ctx, relayed, discardID)
		if err != nil || discarded.State != messaging.StateDiscarded || time.Since(discarded.StateAt) > time.Minute {
			t.Fatalf("discard = %s at %v, %v; want it discarded now", discarded.State, discarded.StateAt, err)
		}
		if dl := stateOf(discardID); dl.State != messaging.StateDiscarded || !dl.StateAt.Equal(discarded.StateAt) {
			t.Errorf("listed as %s at %v after the discard, want discarded at %v", dl.State, dl.StateAt, discarded.StateAt)
		}
		again, err := messaging.DiscardRelayedDeadLetter(ctx, relayed, discardID)
		if err != nil || again.State != messaging.StateDiscarded || !again.StateAt.Equal(discarded.StateAt) {
			t.Errorf("second discard = %s at %v, %v; want discarded at %v, no error", again.State, again.StateAt, err, discarded.StateAt)
		}
		if _, err := messaging.ReplayRelayedDeadLetter(ctx, relayed, discardID); !errors.Is(err, messaging.ErrDeadLetterDiscarded) {
			t.Errorf("replay of a discarded dead letter: %v, want ErrDeadLetterDiscarded", err)
		}
		if n := outboxRows(); n != 0 {
			t.Errorf("%d outbox rows after replaying a discarded dead letter, want none", n)
		}

		replayed, err := messaging.ReplayRelayedDeadLetter(ctx, relayed, replayID)
		if err != nil || replayed.State != messaging.StateReplayed || outboxRows() != 1 {
			t.Fatalf("replay = %s, %v, %d outbox rows; want it replayed, in the outbox", replayed.State, err, outboxRows())
		}
		if dl := stateOf(replayID); dl.State != messaging.StateReplayed || !dl.StateAt.Equal(replayed.StateAt) {
			t.Errorf("listed as %s at %v after the replay, want replayed at %v", dl.State, dl.StateAt, replayed.StateAt)
		}
		if _, err := messaging.DiscardRelayedDeadLetter(ctx, relayed, replayID); !errors.Is(err, messaging.ErrDeadLetterReplayed) {
			t.Errorf("discard of a replayed dead letter: %v, want ErrDeadLetterReplayed", err)
		}
		if dl := stateOf(replayID); dl.State != messaging.StateReplayed {
			t.Errorf("listed as %s after a refused discard, want replayed", dl.State)
		}
		if _, err := messaging.ReplayRelayedDeadLetter(ctx, relayed, replayID); err != nil || outboxRows() != 2 {
			t.Errorf("second replay: %v, %d outbox rows; want it in the outbox again", err, outboxRows())
		}

		for _, id := range []string{messaging.OutboxDLQ + ":" + uuid.NewString(), "payments.commands.dlq:0:0"} {
			if _, err := messaging.DiscardRelayedDeadLetter(ctx, relayed, id); !errors.Is(err, messaging.ErrDeadLetterNotFound) {
				t.Errorf("discard of %s: %v, want ErrDeadLetterNotFound", id, err)
			}
		}
	})
}

// TestRelayNeverMovesAsideOnTransientFailure: failures that are not about the record (the broker
// down, refusing the topic) fail round after round, far more than MaxRefusals, and move nothing
// aside; once the broker is back, every row is published.
func TestRelayNeverMovesAsideOnTransientFailure(t *testing.T) {
	const topic = events.TopicPaymentCommands
	for _, c := range []struct {
		name string
		// fail makes the broker fail the relay's produce requests from now until the returned
		// heal, and returns the brokers to use.
		fail func(t *testing.T) (brokers []string, heal func())
	}{
		{"broker down", func(t *testing.T) ([]string, func()) {
			port := freePort(t)
			// Nothing listens on port until heal starts a broker there.
			return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, func() {
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, topic))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Close)
			}
		}},
		{"topic not authorized", func(t *testing.T) ([]string, func()) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic,
				Err: kerr.TopicAuthorizationFailed, Count: -1})
			return c.ListenAddrs(), f.Remove
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := newDB(t)
			brokers, heal := c.fail(t)
			// Records fail after a moment, rather than being retried by kgo until the broker
			// answers, so that the relay sees round after round fail; metadata is asked for
			// again soon, so that the broker is found soon once it is back.
			producer := newClient(t, brokers, kgo.RecordDeliveryTimeout(time.Second), kgo.MetadataMinAge(100*time.Millisecond))
			logs := &logRecorder{}
			o := messaging.NewOutbox()
			start(t, "RunRelay", func(ctx context.Context) error {
				return o.RunRelay(ctx, db, producer, messaging.RelayConfig{
					Poll: time.Hour, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
				}, slog.New(logs))
			})
			ctx := t.Context()
			msgs := []events.Message{charge(t, "order-1", 1), charge(t, "order-2", 2), charge(t, "order-1", 3)}
			if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return o.Put(ctx, tx, msgs...) }); err != nil {
				t.Fatal(err)
			}
			failed := messaging.DefaultMaxRefusals + 2
			waitFor(t, fmt.Sprintf("%d failed relay rounds", failed), func() bool {
				return logs.count("WARN outbox relay round failed") >= failed
			})
			if n := outboxDeadLetterRows(t, db); n != 0 {
				t.Fatalf("%d rows moved aside on a transient failure", n)
			}
			if n := count(t, db, `SELECT COUNT(*) FROM outbox`); n != len(msgs) {
				t.Errorf("%d rows in the outbox, want all %d still there", n, len(msgs))
			}
			if n := logs.count("WARN the broker refused") + logs.count("ERROR"); n != 0 {
				t.Errorf("%d logs of refusals for good on a transient failure: %v", n, logs.records)
			}

			heal()
			consumeAll(t, brokers, topic, len(msgs))
			waitFor(t, "the outbox to empty", func() bool { return count(t, db, `SELECT COUNT(*) FROM outbox`) == 0 })
			if n := outboxDeadLetterRows(t, db); n != 0 {
				t.Errorf("%d rows moved aside", n)
			}
		})
	}
}

// freePort is a TCP port nothing listens on (as of the call).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRefusedForGood: the produce errors that refuse a record for what it is count toward moving
// it aside, wrapped as kgo wraps them; errors about the broker, the topic or the client do not.
func TestRefusedForGood(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w (uncompressed_bytes=2000000)", kerr.MessageTooLarge), // kgo, before sending
		kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage,
		kerr.InvalidTimestamp,
	} {
		if !messaging.RefusedForGood(err) {
			t.Errorf("%v: not a refusal for good, want one", err)
		}
	}
	for _, err := range []error{
		kgo.ErrRecordTimeout, kgo.ErrRecordRetries, context.Canceled, context.DeadlineExceeded,
		kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition, kerr.TopicAuthorizationFailed,
		kerr.RequestTimedOut, kerr.NotEnoughReplicas, kerr.InvalidRequiredAcks, kerr.UnknownServerError,
		&net.OpError{Op: "dial", Err: errors.New("connection refused")},
	} {
		if messaging.RefusedForGood(err) {
			t.Errorf("%v: a refusal for good, want a transient failure", err)
		}
	}
}
