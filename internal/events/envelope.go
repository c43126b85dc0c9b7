package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Envelope is a CloudEvents 1.0 event. On Kafka it travels in binary content mode: the
// attributes are ce_* headers and the record value is Data.
type Envelope struct {
	ID          string          // ce_id: the identity used for dedupe, in the outbox and in logs
	Type        Type            // ce_type
	Source      string          // ce_source: the service that emitted it
	Subject     string          // ce_subject: the order id
	Time        time.Time       // ce_time
	TraceParent string          // ce_traceparent: W3C trace context, when there is one
	TraceState  string          // ce_tracestate: its vendor state, when there is some
	Data        json.RawMessage // the JSON payload
}

// Message is an envelope bound for a topic, keyed by order id.
type Message struct {
	Topic    string
	Key      string
	Envelope Envelope
}

// New builds a message carrying payload, with a fresh event id.
func New(source, orderID string, payload Payload) (Message, error) {
	return NewWithID(uuid.NewString(), source, orderID, payload)
}

// NewWithID builds a message with a chosen event id: commands derive theirs from the order and
// step, so that a re-sent command is recognisably the same command.
func NewWithID(id, source, orderID string, payload Payload) (Message, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s: %w", payload.EventType(), err)
	}
	return Message{
		Topic: payload.EventType().Topic(),
		Key:   orderID,
		Envelope: Envelope{
			ID:      id,
			Type:    payload.EventType(),
			Source:  source,
			Subject: orderID,
			Time:    time.Now().UTC(),
			Data:    data,
		},
	}, nil
}

// ErrUnknownType is returned when an event's ce_type is not one this version knows.
var ErrUnknownType = errors.New("unknown event type")

// Known reports whether t is an event type this version can decode.
func Known(t Type) bool {
	_, ok := registry[t]
	return ok
}

// Types lists every event type this version knows, sorted: what the AsyncAPI document must
// describe.
func Types() []Type {
	return slices.Sorted(maps.Keys(registry))
}

// Name is the Go name of t's payload type ("PaymentCharged" for PaymentChargedType): how the API
// names an event to people, without the versioned ce_type. "" for a type this version does not know.
func (t Type) Name() string {
	newPayload, ok := registry[t]
	if !ok {
		return ""
	}
	return reflect.TypeOf(newPayload()).Elem().Name()
}

// Decode unmarshals the payload into the Go type registered for its ce_type.
func (e Envelope) Decode() (Payload, error) {
	newPayload, ok := registry[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	p := newPayload()
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.Type, err)
	}
	if v, ok := p.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("invalid %s: %w", e.Type, err)
		}
	}
	return p, nil
}
