package loadgen

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config describes one load run. Command fills it from flags; tests build it
// directly.
type Config struct {
	Target        string        // base URL of the order API; all traffic goes here and nowhere else
	Rate          int           // orders per second, paced by vegeta's ConstantPacer
	Duration      time.Duration // how long to send; ignored when Orders > 0
	Orders        int           // if > 0, send exactly this many orders instead of running for Duration
	FollowTimeout time.Duration // how long each accepted order is followed before it counts as "not terminal"
	SKUs          int           // items are drawn from SKU-1..SKU-N
	// Token is sent as a bearer token with every request (an admin's, to place orders for the
	// random customers); Mint, when set, makes each customer's own instead.
	Token string
	Mint  func(customer string) (string, error)

	// Knobs that are not flags. They exist so tests can shrink the run;
	// zero means the default below.
	maxInFlight    int
	requestTimeout time.Duration
	firstPoll      time.Duration
	maxPoll        time.Duration
	pollsPerOrder  float64
	progressEvery  time.Duration
}

const (
	defaultTarget        = "http://127.0.0.1:3001"
	defaultRate          = 100
	defaultDuration      = 10 * time.Second
	defaultFollowTimeout = 30 * time.Second
	defaultSKUs          = 20

	defaultMaxInFlight    = 4096
	defaultRequestTimeout = 10 * time.Second
	defaultFirstPoll      = 100 * time.Millisecond
	defaultMaxPoll        = time.Second
	// Polls are paced to at most this many per order created per second (on average an order
	// needs under 2). A healthy system never meets the limit; an overloaded one would otherwise
	// draw a poll a second for every order in flight, thousands a second, and spend its CPU
	// answering them instead of completing orders. Completion times come from the server's
	// timestamps, so a poll that waits its turn changes no figure.
	defaultPollsPerOrder = 2
	defaultProgressEvery = time.Second

	// ConstantPacer divides a second by the rate; above 1e9 the interval
	// becomes zero and the pacer divides by it. A million/s is far beyond
	// what one client process can create anyway.
	maxRate = 1_000_000
)

func (c Config) withDefaults() Config {
	if c.maxInFlight <= 0 {
		c.maxInFlight = defaultMaxInFlight
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = defaultRequestTimeout
	}
	if c.firstPoll <= 0 {
		c.firstPoll = defaultFirstPoll
	}
	if c.maxPoll <= 0 {
		c.maxPoll = defaultMaxPoll
	}
	if c.pollsPerOrder <= 0 {
		c.pollsPerOrder = defaultPollsPerOrder
	}
	if c.progressEvery <= 0 {
		c.progressEvery = defaultProgressEvery
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if _, err := parseTarget(c.Target); err != nil {
		errs = append(errs, err)
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate must be > 0 orders/s, got %d", c.Rate))
	} else if c.Rate > maxRate {
		errs = append(errs, fmt.Errorf("rate must be <= %d orders/s, got %d", maxRate, c.Rate))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration must not be negative, got %s", c.Duration))
	}
	if c.Orders < 0 {
		errs = append(errs, fmt.Errorf("orders must not be negative, got %d", c.Orders))
	}
	if c.Duration <= 0 && c.Orders <= 0 {
		errs = append(errs, errors.New("nothing to do: need duration > 0 or orders > 0"))
	}
	if c.FollowTimeout <= 0 {
		errs = append(errs, fmt.Errorf("follow-timeout must be > 0, got %s", c.FollowTimeout))
	}
	if c.SKUs < 1 {
		errs = append(errs, fmt.Errorf("skus must be >= 1, got %d", c.SKUs))
	}
	if c.Token != "" && c.Mint != nil {
		errs = append(errs, errors.New("--token and --token-key both set: give one"))
	}
	return errors.Join(errs...)
}

// parseTarget insists on an absolute http(s) URL so that a typo cannot turn
// into requests against some other host or a relative path.
func parseTarget(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("target %q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("target %q must be an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("target %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("target %q must not carry a query, fragment or credentials", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
