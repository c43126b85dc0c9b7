package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead letters: listing what is on the dead-letter topics and putting it back where it came from
// once the cause is fixed.
//
// Replaying is idempotent. A replayed record keeps its CloudEvents headers, so it keeps its event
// id (ce_id), and a consumer whose inbox already holds that id skips it. Replaying the same dead
// letter twice, or a dead letter whose event some other delivery has since applied, therefore
// changes nothing. Kafka cannot delete a single record from a topic, so a dead letter stays listed
// after its replay (until the topic's retention removes it), marked replayed: what became of each
// dead letter, replayed or discarded, is recorded beside it (see dlq_state.go).

// HdrReplayedFrom is set on a replayed record to the ID of the dead letter it was replayed from.
const HdrReplayedFrom = "x-ordersys-replayed-from"

// dlqHeaderPrefix namespaces ordersys's own delivery metadata: the dead-letter headers and
// HdrReplayedFrom. None of it is part of the event, and a replay drops all of it.
const dlqHeaderPrefix = "x-ordersys-"

// dlqSuffix ends the name of every dead-letter topic (see events.DLQ).
const dlqSuffix = ".dlq"

// ErrDeadLetterNotFound is returned for a dead-letter ID that names no record on a dead-letter
// topic: malformed, of an unknown topic or partition, or at an offset the topic no longer (or
// never did) hold.
var ErrDeadLetterNotFound = errors.New("dead letter not found")

// DeadLetter is one record of a dead-letter topic, with the failure the consumer recorded in its
// headers (see Consumer and the HdrDLQ* header names), or an outbox row the broker refused for
// good (see outbox_dlq.go; its Topic is OutboxDLQ, its partitions and offsets -1, its Consumer
// "<service>-relay").
type DeadLetter struct {
	// ID identifies the record: "<dlq topic>:<partition>:<offset>", e.g.
	// "payments.commands.dlq:0:42". It is stable (a Kafka offset never changes meaning) and
	// URL-safe: topic names only use [a-zA-Z0-9._-], and ':' needs no escaping in a URL path
	// segment or query value. An outbox dead letter's is "outbox.dlq:<uuid>".
	ID string
	// Topic, Partition and Offset locate the record on the dead-letter topic; OriginalTopic is
	// where it failed and where a replay sends it.
	Topic, OriginalTopic string
	Partition            int32
	Offset               int64
	// Key is the record key (the order id).
	Key string
	// EventID and EventType are the CloudEvents ce_id and ce_type ("" for a record that was not a
	// CloudEvent, which is one reason records get dead-lettered).
	EventID, EventType string
	// Error is the failure that dead-lettered the record, Attempts how many times it was tried,
	// and Consumer the subscription that gave up on it.
	Error    string
	Attempts int
	Consumer string
	// DeadLetteredAt is when the consumer gave up (the record's timestamp if the header is absent).
	DeadLetteredAt time.Time
	// OriginalPartition and OriginalOffset locate the record as it was first consumed.
	OriginalPartition int32
	OriginalOffset    int64
	// State is what an operator made of it (StatePending: nothing yet), StateAt when (the last
	// replay's time, for one replayed more than once).
	State   DeadLetterState
	StateAt time.Time
	// Headers are the original record's headers, without the dead-letter ones (what a replay
	// sends; the last of repeated ones), and Payload its value.
	Headers map[string]string
	Payload []byte
}

// deadLetterID formats the ID of the record at topic/partition/offset.
func deadLetterID(topic string, partition int32, offset int64) string {
	return topic + ":" + strconv.FormatInt(int64(partition), 10) + ":" + strconv.FormatInt(offset, 10)
}

// parseDeadLetterID splits an ID made by deadLetterID. Topic names cannot contain ':', so the last
// two colons separate the fields.
func parseDeadLetterID(id string) (topic string, partition int32, offset int64, err error) {
	bad := malformedID(id)
	rest, offText, ok := cutLast(id, ":")
	if !ok {
		return "", 0, 0, bad
	}
	topic, partText, ok := cutLast(rest, ":")
	if !ok || topic == "" {
		return "", 0, 0, bad
	}
	p, err := strconv.ParseInt(partText, 10, 32)
	if err != nil || p < 0 {
		return "", 0, 0, bad
	}
	o, err := strconv.ParseInt(offText, 10, 64)
	if err != nil || o < 0 {
		return "", 0, 0, bad
	}
	return topic, int32(p), o, nil
}

// malformedID is an id that names no dead letter because it is not one: no such dead letter, as
// the API answers (404), but said as what it is.
type malformedID string

func (m malformedID) Error() string {
	return fmt.Sprintf("malformed dead-letter id %q: want <topic>:<partition>:<offset>, as listed", string(m))
}

func (malformedID) Is(target error) bool { return target == ErrDeadLetterNotFound }

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// ListDeadLetters returns every record on the dead-letter topics, oldest dead letter first, with
// its state. With no topics (nil or empty) it reads every topic whose name ends in ".dlq". It reads
// each partition from its start offset up to the end offset (high watermark) it had when called,
// so records dead-lettered meanwhile are left for the next call; ctx bounds the whole read.
//
// cl is used for the metadata requests and to build a short-lived reader with the same connection
// settings (brokers, TLS, SASL...); its own consumer or group settings do not matter. A topic
// named in topics that does not exist is an error wrapping kerr.UnknownTopicOrPartition.
func ListDeadLetters(ctx context.Context, cl *kgo.Client, topics []string) ([]DeadLetter, error) {
	recs, err := readDeadLetters(ctx, cl, topics)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(recs))
	for i, r := range recs {
		out[i] = r.DeadLetter
	}
	return out, nil
}

// ReplayDeadLetter produces the dead letter id again to its original topic, with its key, value
// and original headers, without the dead-letter headers, and with HdrReplayedFrom set to id, then
// records it replayed. It returns the dead letter it replayed. The record stays on the dead-letter
// topic; see the note on idempotency at the top of this file. A discarded dead letter is not
// replayed: ErrDeadLetterDiscarded. cl must not be a transactional client.
func ReplayDeadLetter(ctx context.Context, cl *kgo.Client, id string) (DeadLetter, error) {
	r, dl, exists, err := readOneWithState(ctx, cl, id)
	if err != nil {
		return DeadLetter{}, err
	}
	if dl.OriginalTopic == "" {
		return DeadLetter{}, fmt.Errorf("%w: %s has no %s header: not a dead letter", ErrDeadLetterNotFound, id, HdrDLQTopic)
	}
	if dl.State == StateDiscarded {
		return dl, fmt.Errorf("%w: %s was discarded at %s", ErrDeadLetterDiscarded, id, dl.StateAt.Format(time.RFC3339))
	}
	if err := cl.ProduceSync(ctx, replayRecord(r, dl)).FirstErr(); err != nil {
		return DeadLetter{}, fmt.Errorf("replay %s to %s: %w", id, dl.OriginalTopic, err)
	}
	// Replayed and not recorded (this failing, or the process dying first), it stays pending:
	// replaying it again is harmless.
	dl.State, dl.StateAt = StateReplayed, time.Now().UTC()
	if err := recordStates(ctx, cl, exists, dl); err != nil {
		return DeadLetter{}, fmt.Errorf("replayed %s, but: %w", id, err)
	}
	return dl, nil
}

// DiscardDeadLetter records that the dead letter id is not to be replayed, and returns it. It
// stays listed, discarded. Discarding it again changes nothing; a dead letter already replayed
// cannot be discarded: ErrDeadLetterReplayed (its message went back to its topic).
func DiscardDeadLetter(ctx context.Context, cl *kgo.Client, id string) (DeadLetter, error) {
	_, dl, exists, err := readOneWithState(ctx, cl, id)
	if err != nil {
		return DeadLetter{}, err
	}
	switch dl.State {
	case StateDiscarded:
		return dl, nil
	case StateReplayed:
		return dl, fmt.Errorf("%w: %s was replayed at %s", ErrDeadLetterReplayed, id, dl.StateAt.Format(time.RFC3339))
	}
	dl.State, dl.StateAt = StateDiscarded, time.Now().UTC()
	if err := recordStates(ctx, cl, exists, dl); err != nil {
		return DeadLetter{}, fmt.Errorf("discard %s: %w", id, err)
	}
	return dl, nil
}

// readOneWithState reads the dead letter id and its state; exists says whether the state topic
// does.
func readOneWithState(ctx context.Context, cl *kgo.Client, id string) (*kgo.Record, DeadLetter, bool, error) {
	topic, partition, offset, err := parseDeadLetterID(id)
	if err != nil {
		return nil, DeadLetter{}, false, err
	}
	r, err := readOne(ctx, cl, topic, partition, offset)
	if err != nil {
		return nil, DeadLetter{}, false, err
	}
	states, exists, err := deadLetterStates(ctx, cl)
	if err != nil {
		return nil, DeadLetter{}, false, err
	}
	dl := parseDeadLetter(r)
	dl.applyState(states)
	return r, dl, exists, nil
}

// ReplayAll replays every dead letter currently on topics (every ".dlq" topic if topics is empty)
// but the discarded ones, oldest first, as ReplayDeadLetter does, and returns how many it
// replayed and how many discarded ones it left. Replaying what was already replayed is harmless
// (see the top of this file), so every call replays all of those again. Records without the
// original-topic header (not dead letters) are skipped and reported in the error; the others are
// still replayed.
func ReplayAll(ctx context.Context, cl *kgo.Client, topics []string) (replayed, discarded int, err error) {
	recs, err := readDeadLetters(ctx, cl, topics)
	if err != nil {
		return 0, 0, err
	}
	var skipped []string
	replays := make([]*kgo.Record, 0, len(recs))
	byID := map[string]DeadLetter{}
	for _, r := range recs {
		switch {
		case r.State == StateDiscarded:
			discarded++
			continue
		case r.OriginalTopic == "":
			skipped = append(skipped, r.ID)
			continue
		}
		replays = append(replays, replayRecord(r.record, r.DeadLetter))
		byID[r.ID] = r.DeadLetter
	}
	// One ProduceSync for all: records for one partition keep their order, so one order's dead
	// letters are replayed in the order they were dead-lettered.
	var errs []error
	var done []DeadLetter
	at := time.Now().UTC()
	for _, res := range cl.ProduceSync(ctx, replays...) {
		id := HeaderValue(res.Record, HdrReplayedFrom)
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("replay %s to %s: %w", id, res.Record.Topic, res.Err))
			continue
		}
		dl := byID[id]
		dl.State, dl.StateAt = StateReplayed, at
		done = append(done, dl)
	}
	if len(done) > 0 {
		// Whether the state topic exists is not known here; making sure costs one request.
		if err := recordStates(ctx, cl, false, done...); err != nil {
			errs = append(errs, fmt.Errorf("replayed %d dead letter(s), but: %w", len(done), err))
		}
	}
	if len(skipped) > 0 {
		errs = append(errs, fmt.Errorf("skipped %d record(s) without a %s header: %s",
			len(skipped), HdrDLQTopic, strings.Join(skipped, ", ")))
	}
	return len(done), discarded, errors.Join(errs...)
}

// replayRecord is the record that puts dead letter r back on its original topic. The partition is
// left to the producer's partitioner, which places it by key as the original was.
func replayRecord(r *kgo.Record, dl DeadLetter) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: slices.Clone(h.Value)})
		}
	}
	headers = append(headers, kgo.RecordHeader{Key: HdrReplayedFrom, Value: []byte(dl.ID)})
	return &kgo.Record{
		Topic:   dl.OriginalTopic,
		Key:     slices.Clone(r.Key),
		Value:   slices.Clone(r.Value),
		Headers: headers,
	}
}

// parseDeadLetter reads the dead-letter headers of r. Missing or malformed headers leave their
// fields zero: a listing shows whatever is there.
func parseDeadLetter(r *kgo.Record) DeadLetter {
	dl := DeadLetter{
		ID:        deadLetterID(r.Topic, r.Partition, r.Offset),
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       string(r.Key),
		State:     StatePending,
		Headers:   map[string]string{},
		Payload:   slices.Clone(r.Value),
	}
	var at string
	for _, h := range r.Headers { // the last of repeated headers wins, as the consumer appends
		v := string(h.Value)
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			dl.Headers[h.Key] = v
		}
		switch h.Key {
		case hdrID:
			dl.EventID = v
		case hdrType:
			dl.EventType = v
		case HdrDLQError:
			dl.Error = v
		case HdrDLQAttempts:
			dl.Attempts, _ = strconv.Atoi(v)
		case HdrDLQConsumer:
			dl.Consumer = v
		case HdrDLQTopic:
			dl.OriginalTopic = v
		case HdrDLQPartition:
			p, _ := strconv.ParseInt(v, 10, 32)
			dl.OriginalPartition = int32(p)
		case HdrDLQOffset:
			dl.OriginalOffset, _ = strconv.ParseInt(v, 10, 64)
		case HdrDLQTime:
			at = v
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		dl.DeadLetteredAt = t.UTC()
	} else if !r.Timestamp.IsZero() {
		dl.DeadLetteredAt = r.Timestamp.UTC()
	}
	return dl
}

// HeaderValue is the value of the last header named key, or "".
func HeaderValue(r *kgo.Record, key string) string {
	v := ""
	for _, h := range r.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}
