package messaging

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Outbox dead letters: outbox rows the broker refuses for good.
//
// The relay publishes a service's outbox in id order, and a failed round is tried again, so a
// record the broker will never take (larger than the topic's max.message.bytes, say) used to hold
// the whole outbox back forever. Now the relay counts, per row, the refusals that are about the
// record itself (refusedForGood), each one from a produce of that record alone; after
// RelayConfig.MaxRefusals of them it moves the row, in one transaction, from the outbox to the
// outbox_dead_letters table, logs it at error level, and goes on. Failures that are not about the
// record (the broker down or timing out, a leader moving, a missing ACL) never count: such rows
// wait and are retried for as long as it takes, as every row always was.
//
// The DLQ API lists the outbox dead letters under the pseudo-topic OutboxDLQ, next to the records
// of the consumers' dead-letter topics, and replays them by ID like those: a replay moves the row
// back into the outbox (at its end, under a new outbox id, with the same event id), and the relay
// tries it again, once the operator has fixed the cause (raised the topic's max.message.bytes,
// say). Its row stays, marked replayed, as a record on a dead-letter topic does; replaying it
// again puts it in the outbox again (the same event id: harmless), and should the broker refuse
// it again it comes back under a new ID. A discarded one is marked so and never replayed. The
// state is a column of the row, in the service's database, which every replica of the service
// reads.

// OutboxDLQ is the pseudo-topic the outbox dead letters are listed under. It is no Kafka topic
// (no topic named "outbox" exists, so no dead-letter topic of that name either): the rows live in
// each service's database. An outbox dead letter's ID is "outbox.dlq:<uuid>".
const OutboxDLQ = "outbox.dlq"

// DefaultMaxRefusals is how many times, by default, the broker may refuse an outbox row for good
// before the relay moves it to the outbox dead letters (see RelayConfig.MaxRefusals).
const DefaultMaxRefusals = 3

// relaySuffix ends the Consumer of an outbox dead letter: "<service>-relay", the relay of the
// service that sent it.
const relaySuffix = "-relay"

// refusals are the produce errors that refuse a record for what it is, so that the broker gives
// the same answer however often the record is sent, until an operator changes the broker or the
// topic: too large for the topic (kgo reports a record too large for a batch of its own with the
// same error, before sending it), a batch too large for a log segment, a record failing the
// broker's validation, a corrupt batch (CRC, size, or a missing key on a compacted topic), a
// timestamp outside the topic's accepted range.
//
// Not in the list, on purpose: errors about the topic, the cluster or the client rather than the
// record (UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED, INVALID_REQUIRED_ACKS,
// UNSUPPORTED_COMPRESSION_TYPE, INVALID_TOPIC_EXCEPTION...): every row of the topic would get
// them, and moving them all aside would hide an outage, not route around one bad record.
var refusals = []error{
	kerr.MessageTooLarge,
	kerr.RecordListTooLarge,
	kerr.InvalidRecord,
	kerr.CorruptMessage,
	kerr.InvalidTimestamp,
}

// refusedForGood reports whether err is one of refusals.
func refusedForGood(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// outboxRow is an outbox row as the relay reads it.
type outboxRow struct {
	id  int64
	msg events.Message
}

// deadLetterColumns are the columns of outbox_dead_letters that moveAside fills, in order.
const deadLetterColumns = `id, outbox_id, topic, msg_key, event_id, event_type, source, event_time,
	traceparent, tracestate, payload, error, attempts, dead_lettered_at`

// moveAside moves row r from the outbox to outbox_dead_letters in one transaction, with cause, the
// broker's last refusal, and attempts, how many times it refused the row. moved is false when the
// row was no longer in the outbox (nothing is written then).
func moveAside(ctx context.Context, db *sqlstore.DB, r outboxRow, cause error, attempts int) (dl DeadLetter, moved bool, err error) {
	id := uuid.NewString()
	at := time.Now().UTC()
	e := r.msg.Envelope
	err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = $1`, r.id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox_dead_letters (`+deadLetterColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			id, r.id, r.msg.Topic, r.msg.Key, e.ID, string(e.Type), e.Source, e.Time.UTC(),
			e.TraceParent, e.TraceState, string(e.Data), cause.Error(), attempts, at); err != nil {
			return err
		}
		moved = true
		return nil
	})
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("move outbox row %d to the dead letters: %w", r.id, err)
	}
	return outboxDeadLetter(id, r.msg, cause.Error(), attempts, at, StatePending, sql.NullTime{}), moved, nil
}

// outboxDeadLetter is the DeadLetter of an outbox dead letter, message m. It never reached a
// partition: its partitions and offsets are -1; its headers are those the relay would have sent.
func outboxDeadLetter(id string, m events.Message, cause string, attempts int, at time.Time,
	state DeadLetterState, stateAt sql.NullTime) DeadLetter {
	e := m.Envelope
	e.Subject = m.Key
	r := ToRecord(events.Message{Topic: m.Topic, Key: m.Key, Envelope: e})
	headers := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	dl := DeadLetter{
		ID: OutboxDLQ + ":" + id, Topic: OutboxDLQ, OriginalTopic: m.Topic,
		Partition: -1, Offset: -1, OriginalPartition: -1, OriginalOffset: -1,
		Key: m.Key, EventID: e.ID, EventType: string(e.Type),
		Error: cause, Attempts: attempts, Consumer: e.Source + relaySuffix, DeadLetteredAt: at.UTC(),
		State: state, Headers: headers, Payload: e.Data,
	}
	if stateAt.Valid {
		dl.StateAt = stateAt.Time.UTC()
	}
	return dl
}

// outboxDeadLetterColumns are what scanOutboxDeadLetter reads.
const outboxDeadLetterColumns = `id, topic, msg_key, event_id, event_type, source, event_time,
	traceparent, tracestate, payload, error, attempts, dead_lettered_at, state, state_at`

// scanOutboxDeadLetter reads outboxDeadLetterColumns: the dead letter, and the message it was.
func scanOutboxDeadLetter(row interface{ Scan(...any) error }) (DeadLetter, events.Message, error) {
	var id, typ, payload, cause, state string
	var m events.Message
	var attempts int
	var at time.Time
	var stateAt sql.NullTime
	if err := row.Scan(&id, &m.Topic, &m.Key, &m.Envelope.ID, &typ, &m.Envelope.Source, &m.Envelope.Time,
		&m.Envelope.TraceParent, &m.Envelope.TraceState, &payload, &cause, &attempts, &at, &state, &stateAt); err != nil {
		return DeadLetter{}, events.Message{}, err
	}
	m.Envelope.Type, m.Envelope.Subject, m.Envelope.Data = events.Type(typ), m.Key, []byte(payload)
	return outboxDeadLetter(id, m, cause, attempts, at, DeadLetterState(state), stateAt), m, nil
}

// IsOutboxDeadLetterID reports whether id names an outbox dead letter rather than a record on a
// dead-letter topic.
func IsOutboxDeadLetterID(id string) bool { return strings.HasPrefix(id, OutboxDLQ+":") }

// OutboxDeadLetters lists the outbox dead letters of db, oldest first, whatever their state.
func OutboxDeadLetters(ctx context.Context, db *sqlstore.DB) ([]DeadLetter, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+outboxDeadLetterColumns+` FROM outbox_dead_letters
		ORDER BY dead_lettered_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list outbox dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		dl, _, err := scanOutboxDeadLetter(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbox dead letters: %w", err)
		}
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list outbox dead letters: %w", err)
	}
	return out, nil
}

// outboxUID is the row id of the outbox dead letter id.
func outboxUID(id string) (string, error) {
	uid, ok := strings.CutPrefix(id, OutboxDLQ+":")
	if !ok {
		return "", fmt.Errorf("%w: %q is not an outbox dead letter (want %s:<id>)", ErrDeadLetterNotFound, id, OutboxDLQ)
	}
	return uid, nil
}

// ReplayDeadLetter puts the outbox dead letter id of db back into the outbox o writes to db, in one
// transaction with marking it replayed, and wakes o's relay: the message goes to the end of the
// outbox (a new outbox id) as it was (the same event id, so a consumer that somehow has it already
// skips it). It returns the dead letter, replayed, or an error wrapping ErrDeadLetterNotFound when
// db holds no such dead letter, or ErrDeadLetterDiscarded when it was discarded. A dead letter
// replayed before is put back again.
func (o *Outbox) ReplayDeadLetter(ctx context.Context, db *sqlstore.DB, id string) (DeadLetter, error) {
	uid, err := outboxUID(id)
	if err != nil {
		return DeadLetter{}, err
	}
	var dl DeadLetter
	err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		var m events.Message
		var err error
		dl, m, err = markOutboxDeadLetter(ctx, tx, uid, id, StateReplayed, `state <> $4`, StateDiscarded,
			StateDiscarded, ErrDeadLetterDiscarded)
		if err != nil {
			return err
		}
		return o.Put(ctx, tx, m)
	})
	if err != nil && !errors.Is(err, ErrDeadLetterNotFound) && !errors.Is(err, ErrDeadLetterDiscarded) {
		err = fmt.Errorf("replay %s: %w", id, err)
	}
	return dl, err
}

// DiscardOutboxDeadLetter marks the outbox dead letter id of db discarded, and returns it. It stays
// listed, and is never replayed. Discarding it again changes nothing; one already replayed is
// not discarded (ErrDeadLetterReplayed); ErrDeadLetterNotFound when db holds no such dead letter.
func DiscardOutboxDeadLetter(ctx context.Context, db *sqlstore.DB, id string) (DeadLetter, error) {
	uid, err := outboxUID(id)
	if err != nil {
		return DeadLetter{}, err
	}
	var dl DeadLetter
	err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		dl, _, err = markOutboxDeadLetter(ctx, tx, uid, id, StateDiscarded, `state = $4`, StatePending,
			StateReplayed, ErrDeadLetterReplayed)
		return err
	})
	if err != nil && !errors.Is(err, ErrDeadLetterNotFound) && !errors.Is(err, ErrDeadLetterReplayed) {
		err = fmt.Errorf("discard %s: %w", id, err)
	}
	return dl, err
}

// markOutboxDeadLetter sets the outbox dead letter uid (id to the caller) to state to where its
// state passes cond ($4 is from), and reads it back: ErrDeadLetterNotFound when there is none,
// refuseErr when it is in state refuse. The update comes first: on PostgreSQL it locks the row,
// so that another operator's action cannot slip in between the check and this one.
func markOutboxDeadLetter(ctx context.Context, tx *sqlstore.Tx, uid, id string, to DeadLetterState, cond string,
	from, refuse DeadLetterState, refuseErr error) (DeadLetter, events.Message, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE outbox_dead_letters SET state = $1, state_at = $2 WHERE id = $3 AND `+cond,
		string(to), time.Now().UTC(), uid, string(from)); err != nil {
		return DeadLetter{}, events.Message{}, err
	}
	dl, m, err := scanOutboxDeadLetter(tx.QueryRowContext(ctx,
		`SELECT `+outboxDeadLetterColumns+` FROM outbox_dead_letters WHERE id = $1`, uid))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dl, m, fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
	case err == nil && dl.State == refuse:
		return dl, m, fmt.Errorf("%w: %s was %s at %s", refuseErr, id, refuse, dl.StateAt.Format(time.RFC3339))
	}
	return dl, m, err
}

// Relayed is one service's outbox and the database it is in: where that service's outbox dead
// letters are listed and replayed.
type Relayed struct {
	Outbox *Outbox
	DB     *sqlstore.DB
}

// ListRelayedDeadLetters lists the outbox dead letters of every outbox in rs (those of the services
// a process runs), oldest first.
func ListRelayedDeadLetters(ctx context.Context, rs []Relayed) ([]DeadLetter, error) {
	var letters []DeadLetter
	for _, r := range rs {
		dls, err := OutboxDeadLetters(ctx, r.DB)
		if err != nil {
			return nil, err
		}
		letters = append(letters, dls...)
	}
	SortDeadLetters(letters)
	return letters, nil
}

// ReplayRelayedDeadLetter replays the outbox dead letter id (see Outbox.ReplayDeadLetter) from
// whichever outbox of rs holds it: an error wrapping ErrDeadLetterNotFound when none does.
func ReplayRelayedDeadLetter(ctx context.Context, rs []Relayed, id string) (DeadLetter, error) {
	return inRelayed(rs, id, func(r Relayed) (DeadLetter, error) { return r.Outbox.ReplayDeadLetter(ctx, r.DB, id) })
}

// DiscardRelayedDeadLetter discards the outbox dead letter id (see DiscardOutboxDeadLetter) of
// whichever database of rs holds it: an error wrapping ErrDeadLetterNotFound when none does.
func DiscardRelayedDeadLetter(ctx context.Context, rs []Relayed, id string) (DeadLetter, error) {
	return inRelayed(rs, id, func(r Relayed) (DeadLetter, error) { return DiscardOutboxDeadLetter(ctx, r.DB, id) })
}

// inRelayed does do with the first of rs whose database holds the outbox dead letter id.
func inRelayed(rs []Relayed, id string, do func(Relayed) (DeadLetter, error)) (DeadLetter, error) {
	if !IsOutboxDeadLetterID(id) {
		return DeadLetter{}, fmt.Errorf("%w: %q is not an outbox dead letter (want %s:<id>)", ErrDeadLetterNotFound, id, OutboxDLQ)
	}
	for _, r := range rs {
		dl, err := do(r)
		if !errors.Is(err, ErrDeadLetterNotFound) {
			return dl, err
		}
	}
	return DeadLetter{}, fmt.Errorf("%w: %s is in the outbox of no service this process runs", ErrDeadLetterNotFound, id)
}

// SortDeadLetters sorts dead letters oldest first, as every listing gives them, and by topic when
// as old. It is stable: listings each in that order, appended, keep their own order for the rest.
func SortDeadLetters(letters []DeadLetter) {
	slices.SortStableFunc(letters, func(a, b DeadLetter) int {
		return cmp.Or(a.DeadLetteredAt.Compare(b.DeadLetteredAt), cmp.Compare(a.Topic, b.Topic))
	})
}
