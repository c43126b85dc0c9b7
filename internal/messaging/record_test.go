package messaging_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, traceParent := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		t.Run(fmt.Sprintf("traceparent=%q", traceParent), func(t *testing.T) {
			m := charge(t, "order-1", 42)
			// A time with nanoseconds and a non-UTC zone: the header carries the instant.
			m.Envelope.Time = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3*3600))
			m.Envelope.TraceParent = traceParent
			if traceParent != "" {
				m.Envelope.TraceState = "vendor=x"
			}

			r := messaging.ToRecord(m)
			if r.Topic != events.TopicPaymentCommands || string(r.Key) != "order-1" {
				t.Fatalf("record topic/key = %q/%q, want %q/%q", r.Topic, r.Key, events.TopicPaymentCommands, "order-1")
			}
			if !bytes.Equal(r.Value, m.Envelope.Data) {
				t.Fatalf("record value = %s, want %s", r.Value, m.Envelope.Data)
			}
			if v, _ := header(r, "ce_specversion"); v != "1.0" {
				t.Fatalf("ce_specversion = %q, want 1.0", v)
			}
			if v, _ := header(r, "content-type"); v != "application/json" {
				t.Fatalf("content-type = %q, want application/json", v)
			}
			// The CloudEvents distributed-tracing extension, in binary mode.
			for _, h := range []string{"ce_traceparent", "ce_tracestate"} {
				if _, ok := header(r, h); ok != (traceParent != "") {
					t.Fatalf("%s header present = %v, want %v", h, ok, traceParent != "")
				}
			}

			got, err := messaging.FromRecord(r)
			if err != nil {
				t.Fatalf("FromRecord: %v", err)
			}
			want := m.Envelope
			if got.ID != want.ID || got.Type != want.Type || got.Source != want.Source ||
				got.Subject != want.Subject || got.TraceParent != want.TraceParent || got.TraceState != want.TraceState ||
				!got.Time.Equal(want.Time) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", got, want)
			}
			p, err := got.Decode()
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			cp, ok := p.(*events.ChargePayment)
			if !ok || cp.OrderID != "order-1" || cp.Amount.IntPart() != 42 {
				t.Fatalf("decoded payload = %#v", p)
			}
		})
	}
}

func TestFromRecordRejects(t *testing.T) {
	base := messaging.ToRecord(charge(t, "order-1", 1))
	// without returns base's headers minus key; with returns them with key's value replaced.
	without := func(key string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for _, h := range base.Headers {
			if h.Key != key {
				hs = append(hs, h)
			}
		}
		return hs
	}
	with := func(key, value string) []kgo.RecordHeader {
		hs := without(key)
		return append(hs, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}

	cases := []struct {
		name    string
		headers []kgo.RecordHeader
		errHas  string
	}{
		{"no headers", nil, "ce_specversion"},
		{"no specversion", without("ce_specversion"), "ce_specversion"},
		{"specversion 0.3", with("ce_specversion", "0.3"), "ce_specversion"},
		{"empty specversion", with("ce_specversion", ""), "ce_specversion"},
		{"no id", without("ce_id"), "ce_id"},
		{"empty id", with("ce_id", ""), "ce_id"},
		{"no type", without("ce_type"), "ce_type"},
		{"no source", without("ce_source"), "ce_source"},
		{"bad time", with("ce_time", "yesterday"), "ce_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &kgo.Record{Topic: base.Topic, Key: base.Key, Value: base.Value, Headers: tc.headers}
			_, err := messaging.FromRecord(r)
			if err == nil {
				t.Fatalf("FromRecord accepted a record with headers %v", tc.headers)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("FromRecord error %q does not mention %q", err, tc.errHas)
			}
		})
	}

	t.Run("no ce_time is accepted", func(t *testing.T) {
		e, err := messaging.FromRecord(&kgo.Record{Value: base.Value, Headers: without("ce_time")})
		if err != nil {
			t.Fatalf("FromRecord: %v", err)
		}
		if !e.Time.IsZero() {
			t.Fatalf("time = %v, want zero", e.Time)
		}
	})
}

func TestPermanent(t *testing.T) {
	if messaging.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	cause := errors.New("card declined")
	p := messaging.Permanent(cause)
	if !messaging.IsPermanent(p) || !messaging.IsPermanent(fmt.Errorf("charge: %w", p)) {
		t.Fatal("IsPermanent does not recognise a (wrapped) Permanent error")
	}
	if messaging.IsPermanent(cause) || messaging.IsPermanent(nil) {
		t.Fatal("IsPermanent recognises a plain error")
	}
	if !errors.Is(p, cause) || p.Error() != cause.Error() {
		t.Fatalf("Permanent(%v) = %v, does not unwrap to its cause", cause, p)
	}
}
