package messaging

import (
	"errors"
	"fmt"
	"time"
)

// RetryConfig bounds the in-place retries of a failing handler: the wait starts at Base and
// doubles, with ±20% jitter, up to Cap, for at most MaxAttempts attempts. Zero fields keep the
// defaults (50ms base, 5s cap, 8 attempts): seven waits, 50ms to 3.2s, so a poison message holds
// its partition for about 6 seconds of waiting (under 8 with jitter) before it is dead-lettered.
type RetryConfig struct {
	Base, Cap   time.Duration
	MaxAttempts int
}

// Retry defaults.
const (
	DefaultRetryBase     = 50 * time.Millisecond
	DefaultRetryCap      = 5 * time.Second
	DefaultRetryAttempts = 8
)

func (c *RetryConfig) defaults() {
	if c.Base <= 0 {
		c.Base = DefaultRetryBase
	}
	if c.Cap <= 0 {
		c.Cap = DefaultRetryCap
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultRetryAttempts
	}
}

// Validate refuses a configuration that contradicts itself: a negative field, or a cap below the
// base (every wait would be the cap, so the base and its doubling would mean nothing). Zero
// fields are valid: they keep the defaults, and the check applies to the values then in force.
func (c RetryConfig) Validate() error {
	var errs []error
	if c.Base < 0 {
		errs = append(errs, fmt.Errorf("retry base %v: must not be negative", c.Base))
	}
	if c.Cap < 0 {
		errs = append(errs, fmt.Errorf("retry cap %v: must not be negative", c.Cap))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("retry attempts %d: must not be negative", c.MaxAttempts))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.defaults()
	if c.Cap < c.Base {
		return fmt.Errorf("retry cap %v is below retry base %v: the cap bounds every wait, so it must be at least the base", c.Cap, c.Base)
	}
	return nil
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the message goes straight to the dead-letter topic.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
