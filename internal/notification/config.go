package notification

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is how the service delivers webhooks. Zero fields keep the defaults.
type Config struct {
	// AllowInsecure accepts http:// targets (default: https only).
	AllowInsecure bool
	// AllowPrivate delivers to private, loopback, link-local and other non-public addresses
	// (default: refused, after DNS resolution, at each delivery). Tests and dev need it.
	AllowPrivate bool
	// Timeout bounds one attempt, from dialling to the end of the answer read (default 10s).
	Timeout time.Duration
	// RetryFor is how long a delivery is retried before its subscription is disabled (default 24h).
	RetryFor time.Duration
	// RetryBase is the first wait between attempts, doubled each time, with ±20% jitter, up to
	// RetryCap (defaults 5s and 1h: about 30 attempts in a day).
	RetryBase, RetryCap time.Duration
	// SecretGrace is how long the previous secret still signs after a rotation (default 24h).
	SecretGrace time.Duration
	// KeepDeliveries is how long a delivery that ended (delivered or failed) stays listed, with
	// its attempts, before it is pruned (default 7 days).
	KeepDeliveries time.Duration
	// Resolve looks up a target's addresses (nil: the system's resolver). Tests give their own.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Config defaults.
const (
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookRetryFor    = 24 * time.Hour
	DefaultWebhookRetryBase   = 5 * time.Second
	DefaultWebhookRetryCap    = time.Hour
	DefaultWebhookSecretGrace = 24 * time.Hour
	DefaultKeepDeliveries     = 7 * 24 * time.Hour
)

func (c *Config) defaults() {
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{{&c.Timeout, DefaultWebhookTimeout}, {&c.RetryFor, DefaultWebhookRetryFor},
		{&c.RetryBase, DefaultWebhookRetryBase}, {&c.RetryCap, DefaultWebhookRetryCap},
		{&c.SecretGrace, DefaultWebhookSecretGrace}, {&c.KeepDeliveries, DefaultKeepDeliveries}} {
		if *d.field == 0 {
			*d.field = d.def
		}
	}
}

// Validate refuses negative durations and contradictions: a cap below the base, a budget shorter
// than one attempt.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", c.Timeout}, {"retry-for", c.RetryFor}, {"retry base", c.RetryBase},
		{"retry cap", c.RetryCap}, {"secret grace", c.SecretGrace}, {"delivery retention", c.KeepDeliveries}} {
		if d.v < 0 {
			return fmt.Errorf("webhook %s %v: must not be negative", d.name, d.v)
		}
	}
	c.defaults()
	switch {
	case c.RetryCap < c.RetryBase:
		return fmt.Errorf("webhook retry cap %v is below its base %v", c.RetryCap, c.RetryBase)
	case c.RetryFor < c.Timeout:
		return errors.New("webhook retry-for must be at least the timeout of one attempt")
	}
	return nil
}
