package notification

import (
	"net/netip"
	"testing"
	"time"
)

func TestOutcomeOf(t *testing.T) {
	now := time.Now()
	budget := now.Add(time.Hour)
	for _, c := range []struct {
		status int
		next   time.Time
		want   string
		state  string
	}{
		{200, now, OutcomeDelivered, DeliveryDelivered},
		{204, budget.Add(time.Minute), OutcomeDelivered, DeliveryDelivered},
		{299, now, OutcomeDelivered, DeliveryDelivered},
		{410, now, OutcomeGone, DeliveryFailed},
		{301, now, OutcomeRetry, DeliveryPending}, // redirects are not followed
		{500, now, OutcomeRetry, DeliveryPending},
		{0, budget, OutcomeRetry, DeliveryPending},
		{0, budget.Add(time.Second), OutcomeGaveUp, DeliveryFailed},
		{404, budget.Add(time.Second), OutcomeGaveUp, DeliveryFailed},
	} {
		got := outcomeOf(c.status, c.next, budget)
		if got != c.want || stateAfter(got) != c.state {
			t.Errorf("status %d, next in %v: %s (%s), want %s (%s)", c.status, c.next.Sub(budget), got, stateAfter(got), c.want, c.state)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, Config{RetryBase: time.Second, RetryCap: 10 * time.Second}, nil, nil)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 1000: 10 * time.Second} {
		for range 50 {
			if got := s.backoff(attempt); got < want*8/10 || got > want*12/10 {
				t.Fatalf("attempt %d: %v, want %v ±20%%", attempt, got, want)
			}
		}
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false, "64:ff9b::7f00:1": false,
		"198.18.0.1": false,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	// PostgreSQL refuses a NUL in text, so an answer's start must lose it before it is stored.
	if got := printable("gone\x00\x01 \xff\nbye"); got != "gone   ? bye" {
		t.Errorf("printable: %q", got)
	}
}
