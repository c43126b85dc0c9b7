package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What became of each dead letter. A record of a dead-letter topic cannot be changed or deleted,
// so its state is recorded beside it: a record per change on TopicDeadLetterState, keyed by the
// dead letter's ID, which the listing reads whole and applies, the last record of an ID winning.
// Being on the brokers, it is the same for every process and for `ordersys dlq`. An outbox dead
// letter's state is a column of its row instead (see outbox_dlq.go).
//
// Replay and discard read the state, then write it; two operators acting on one dead letter at
// the same instant may both pass the check, and the later record wins.

// DeadLetterState is what an operator made of a dead letter.
type DeadLetterState string

// The states of a dead letter. A pending one may be replayed (and again) or discarded; a
// discarded one is never replayed, and a replayed one is not discarded.
const (
	StatePending   DeadLetterState = "pending"
	StateReplayed  DeadLetterState = "replayed"
	StateDiscarded DeadLetterState = "discarded"
)

var (
	// ErrDeadLetterDiscarded refuses to replay a dead letter that was discarded.
	ErrDeadLetterDiscarded = errors.New("dead letter discarded")
	// ErrDeadLetterReplayed refuses to discard a dead letter that was replayed: its message went
	// back to its topic, which a discard cannot take back.
	ErrDeadLetterReplayed = errors.New("dead letter replayed")
)

// TopicDeadLetterState is where the states of the records of the dead-letter topics are recorded.
// Its name does not end in ".dlq": it is no dead-letter topic.
const TopicDeadLetterState = "ordersys.dlq.state"

// stateTopicConfig: compacted, it keeps the last state of each dead letter; with deletion too, a
// state goes with the topics' retention, after its dead letter (which was written before it).
var stateTopicConfig = map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}

// EnsureDeadLetterStateTopic creates TopicDeadLetterState if it does not exist: one partition, so
// that a listing reads it with one fetch session and every change is in the order it was made.
// replicationFactor -1 is the brokers' default.
func EnsureDeadLetterStateTopic(ctx context.Context, adm *kadm.Client, replicationFactor int16) error {
	resp, err := adm.CreateTopics(ctx, 1, replicationFactor, stateTopicConfig, TopicDeadLetterState)
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", TopicDeadLetterState, err)
	}
	return nil
}

// stateRecord is the value of a record of TopicDeadLetterState.
type stateRecord struct {
	State DeadLetterState `json:"state"`
	At    time.Time       `json:"at"`
	// DeadLetteredAt is the dead letter's: a dead-letter topic deleted and made again starts its
	// offsets, and so its IDs, again, and the states of the old one's records must not apply to
	// the new one's.
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
}

// deadLetterStates reads TopicDeadLetterState: the last state recorded for each dead-letter ID.
// exists is false when the topic does not exist (nothing was recorded).
func deadLetterStates(ctx context.Context, cl *kgo.Client) (states map[string]stateRecord, exists bool, err error) {
	recs, err := readTopics(ctx, cl, kadm.NewClient(cl), []string{TopicDeadLetterState})
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read dead-letter states: %w", err)
	}
	states = make(map[string]stateRecord, len(recs))
	for _, r := range recs { // in offset order: the last wins
		var s stateRecord
		if json.Unmarshal(r.Value, &s) == nil {
			states[string(r.Key)] = s
		}
	}
	return states, true, nil
}

// applyState sets dl's state from states (pending when none is recorded for it).
func (dl *DeadLetter) applyState(states map[string]stateRecord) {
	s, ok := states[dl.ID]
	if !ok || !s.DeadLetteredAt.Equal(dl.DeadLetteredAt) {
		dl.State, dl.StateAt = StatePending, time.Time{}
		return
	}
	dl.State, dl.StateAt = s.State, s.At.UTC()
}

// recordStates records the states of letters. exists says the state topic exists; otherwise it is
// created first (with the brokers' replication factor: a process creates it at start with its
// own), so that a write to a cluster where none was made waits for no metadata.
func recordStates(ctx context.Context, cl *kgo.Client, exists bool, letters ...DeadLetter) error {
	if !exists {
		if err := EnsureDeadLetterStateTopic(ctx, kadm.NewClient(cl), -1); err != nil {
			return err
		}
	}
	recs := make([]*kgo.Record, len(letters))
	for i, dl := range letters {
		v, err := json.Marshal(stateRecord{State: dl.State, At: dl.StateAt, DeadLetteredAt: dl.DeadLetteredAt})
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Topic: TopicDeadLetterState, Key: []byte(dl.ID), Value: v}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("record the state of %d dead letter(s) on %s: %w", len(letters), TopicDeadLetterState, err)
	}
	return nil
}
