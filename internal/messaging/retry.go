package messaging

import (
	"errors"
	"time"
)

// RetryConfig bounds the in-place retries of a failing handler. Defaults: 50ms base, 5s cap,
// 8 attempts, so a poison message holds its partition for about 15 seconds at most.
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
