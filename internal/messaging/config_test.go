package messaging_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
)

// TestRetryConfigValidate: a cap below the base, on the values in force once zero fields take
// their defaults, and negative fields are refused; the zero value and the defaults are not.
func TestRetryConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  messaging.RetryConfig
		want string // "" for valid, else a part of the error
	}{
		{messaging.RetryConfig{}, ""},
		{messaging.RetryConfig{Base: messaging.DefaultRetryBase, Cap: messaging.DefaultRetryCap, MaxAttempts: 1}, ""},
		{messaging.RetryConfig{Base: time.Second, Cap: time.Second}, ""},
		{messaging.RetryConfig{Base: 2 * time.Second, Cap: time.Second}, "retry cap 1s is below retry base 2s"},
		// The default cap, 5s, is below this base.
		{messaging.RetryConfig{Base: 6 * time.Second}, "retry cap 5s is below retry base 6s"},
		{messaging.RetryConfig{Base: -time.Second}, "retry base -1s: must not be negative"},
		{messaging.RetryConfig{Cap: -time.Second}, "retry cap -1s: must not be negative"},
		{messaging.RetryConfig{MaxAttempts: -1}, "retry attempts -1: must not be negative"},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
}

// TestRetentionConfigValidate: an inbox retention shorter than the topics' would let a late
// redelivery apply its event twice, so it is refused, as are negative fields.
func TestRetentionConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  messaging.RetentionConfig
		want string
	}{
		{messaging.RetentionConfig{}, ""},
		{messaging.RetentionConfig{Inbox: messaging.TopicRetention}, ""},
		{messaging.RetentionConfig{Inbox: messaging.DefaultInboxRetention, Interval: time.Second, BatchSize: 1}, ""},
		{messaging.RetentionConfig{Inbox: messaging.TopicRetention - time.Second}, "shorter than the topics' retention 168h0m0s"},
		{messaging.RetentionConfig{Inbox: 24 * time.Hour}, "would be applied twice"},
		{messaging.RetentionConfig{Inbox: -time.Hour}, "inbox retention -1h0m0s: must not be negative"},
		{messaging.RetentionConfig{Interval: -time.Second}, "retention interval -1s: must not be negative"},
		{messaging.RetentionConfig{BatchSize: -1}, "retention batch size -1: must not be negative"},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
	if messaging.DefaultInboxRetention < messaging.TopicRetention {
		t.Errorf("the default inbox retention %v is below the topics' %v", messaging.DefaultInboxRetention, messaging.TopicRetention)
	}
}
