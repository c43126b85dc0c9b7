package notification

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ordersys/ordersys/internal/errs"
)

// The webhook events a subscription can ask for: the ways an order ends.
const (
	EventOrderCompleted = "order.completed"
	EventOrderFailed    = "order.failed"
	EventOrderCancelled = "order.cancelled"
)

// WebhookEvents lists every event a subscription can name.
func WebhookEvents() []string {
	return []string{EventOrderCompleted, EventOrderFailed, EventOrderCancelled}
}

// Webhook is a subscription: an endpoint that receives the order events it names, signed with its secret.
type Webhook struct {
	ID          string
	URL         string
	Events      []string
	Description string
	CreatedAt   time.Time
	// Secret is shown when the subscription is made or its secret rotated, never listed.
	Secret string
	// DisabledAt is set once deliveries stopped: the endpoint answered 410, or failed for the
	// whole retry budget. DisabledReason says which.
	DisabledAt     *time.Time
	DisabledReason string
}

// NewWebhook is what a caller asks for.
type NewWebhook struct {
	URL         string
	Events      []string
	Description string
}

// Delivery states.
const (
	DeliveryPending   = "PENDING"
	DeliveryDelivered = "DELIVERED"
	DeliveryFailed    = "FAILED"
)

// Delivery is one event bound for one subscription, and every attempt to deliver it.
type Delivery struct {
	ID             string // the webhook-id header, the same on every attempt
	SubscriptionID string
	Event          string
	OrderID        string
	State          string
	CreatedAt      time.Time
	NextAttemptAt  *time.Time // while PENDING
	Attempts       []Attempt
}

// Attempt is one POST of a delivery and what came of it.
type Attempt struct {
	At         time.Time
	StatusCode int // 0: no answer; Error says why
	Latency    time.Duration
	Error      string
}

// Attempt outcomes, the values of ordersys_webhook_deliveries_total's outcome label.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"   // failed; tried again at the next attempt's time
	OutcomeGone      = "gone"    // 410: the receiver wants no more, so the subscription is disabled
	OutcomeGaveUp    = "gave_up" // the next attempt would pass the budget: the subscription is disabled
)

// outcomeOf decides what an attempt's answer (status 0: none) means, given when the next attempt
// would be and when the delivery's budget ends.
func outcomeOf(status int, nextAttempt, giveUpAt time.Time) string {
	switch {
	case status >= 200 && status <= 299:
		return OutcomeDelivered
	case status == http.StatusGone:
		return OutcomeGone
	case nextAttempt.After(giveUpAt):
		return OutcomeGaveUp
	}
	return OutcomeRetry
}

// stateAfter is the state a delivery is left in by an attempt's outcome.
func stateAfter(outcome string) string {
	switch outcome {
	case OutcomeDelivered:
		return DeliveryDelivered
	case OutcomeRetry:
		return DeliveryPending
	}
	return DeliveryFailed
}

// validate checks a subscription request, reporting every bad field at once. insecure allows
// http:// targets.
func (n NewWebhook) validate(insecure bool) error {
	var fields []errs.FieldError
	if err := checkTarget(n.URL, insecure); err != nil {
		fields = append(fields, errs.FieldError{Field: "url", Message: err.Error()})
	}
	if len(n.Events) == 0 {
		fields = append(fields, errs.FieldError{Field: "events", Message: "name at least one event"})
	}
	for i, e := range n.Events {
		if !slices.Contains(WebhookEvents(), e) {
			fields = append(fields, errs.FieldError{Field: fmt.Sprintf("events[%d]", i),
				Message: fmt.Sprintf("%q is not an event; want one of %s", e, strings.Join(WebhookEvents(), ", "))})
		}
	}
	if len(n.Description) > 500 {
		fields = append(fields, errs.FieldError{Field: "description", Message: "at most 500 characters"})
	}
	if len(fields) > 0 {
		return errs.Invalid(fields...)
	}
	return nil
}

// checkTarget refuses a URL that is not absolute http(s) with a host, or is http without
// insecure. Where it points is checked at each delivery, after DNS (see guardedDialer): a name's
// addresses can change after the subscription is made.
func checkTarget(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Hostname() == "":
		return errors.New("want an absolute https:// URL")
	case u.User != nil:
		return errors.New("credentials in the URL are not allowed; verify the signature instead")
	case u.Scheme == "http" && !insecure:
		return errors.New("want https:// (http:// needs --webhook-allow-insecure)")
	case len(raw) > 2048:
		return errors.New("at most 2048 characters")
	}
	return nil
}

// newSecret is a Standard Webhooks signing secret: whsec_ and 32 random bytes in base64.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS cannot give randomness)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
