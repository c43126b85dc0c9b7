package messaging

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
)

// CloudEvents Kafka binary content mode header names.
const (
	hdrSpecVersion = "ce_specversion"
	hdrID          = "ce_id"
	hdrType        = "ce_type"
	hdrSource      = "ce_source"
	hdrSubject     = "ce_subject"
	hdrTime        = "ce_time"
	hdrContentType = "content-type"
	// The CloudEvents distributed-tracing extension's attributes, as binary mode names them.
	hdrTraceParent = "ce_traceparent"
	hdrTraceState  = "ce_tracestate"
	// hdrOldTraceParent is what records carried before the extension's names were used.
	hdrOldTraceParent = "traceparent"
)

// ToRecord encodes a message as a Kafka record in CloudEvents binary mode.
func ToRecord(m events.Message) *kgo.Record {
	e := m.Envelope
	headers := []kgo.RecordHeader{
		{Key: hdrSpecVersion, Value: []byte("1.0")},
		{Key: hdrID, Value: []byte(e.ID)},
		{Key: hdrType, Value: []byte(e.Type)},
		{Key: hdrSource, Value: []byte(e.Source)},
		{Key: hdrSubject, Value: []byte(e.Subject)},
		{Key: hdrTime, Value: []byte(e.Time.UTC().Format(time.RFC3339Nano))},
		{Key: hdrContentType, Value: []byte("application/json")},
	}
	if e.TraceParent != "" {
		headers = append(headers, kgo.RecordHeader{Key: hdrTraceParent, Value: []byte(e.TraceParent)})
	}
	if e.TraceState != "" {
		headers = append(headers, kgo.RecordHeader{Key: hdrTraceState, Value: []byte(e.TraceState)})
	}
	return &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: e.Data, Headers: headers}
}

// FromRecord decodes a record's CloudEvents envelope. It does not decode the payload.
func FromRecord(r *kgo.Record) (events.Envelope, error) {
	e := events.Envelope{Data: r.Value}
	var specVersion, ceTime string
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrSpecVersion:
			specVersion = v
		case hdrID:
			e.ID = v
		case hdrType:
			e.Type = events.Type(v)
		case hdrSource:
			e.Source = v
		case hdrSubject:
			e.Subject = v
		case hdrTime:
			ceTime = v
		case hdrTraceParent:
			e.TraceParent = v
		case hdrOldTraceParent:
			if e.TraceParent == "" {
				e.TraceParent = v
			}
		case hdrTraceState:
			e.TraceState = v
		}
	}
	if specVersion != "1.0" {
		return e, fmt.Errorf("not a CloudEvents 1.0 record (ce_specversion %q)", specVersion)
	}
	if e.ID == "" || e.Type == "" || e.Source == "" {
		return e, errors.New("CloudEvents record lacks ce_id, ce_type or ce_source")
	}
	if ceTime != "" {
		t, err := time.Parse(time.RFC3339Nano, ceTime)
		if err != nil {
			return e, fmt.Errorf("bad ce_time %q: %w", ceTime, err)
		}
		e.Time = t
	}
	return e, nil
}
