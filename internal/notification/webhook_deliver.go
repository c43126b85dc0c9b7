package notification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Delivery loop bounds: attempts in flight at once, rows read per look, and the longest sleep
// between looks (deliveries made by another replica's consumer, or due at a time this one did
// not see, wait at most this long).
const (
	maxInFlight = 16
	dueBatch    = 64
	maxIdle     = 10 * time.Second
)

// webhookPayload is the JSON body of a delivery, in Standard Webhooks' shape: type, timestamp,
// and the event's data.
type webhookPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	// TotalAmount and Currency are absent for an order whose event predates them.
	TotalAmount *decimal.Decimal `json:"totalAmount,omitempty"`
	Currency    string           `json:"currency,omitempty"`
	Time        time.Time        `json:"time"`
}

// payloadOf is the body delivered for an order event, and its webhook event name ("" for none).
func payloadOf(ev messaging.Event) (string, []byte, error) {
	d := webhookData{OrderID: ev.Envelope.Subject, Time: ev.Envelope.Time.UTC()}
	var name string
	switch e := ev.Payload.(type) {
	case *events.OrderCompleted:
		name = EventOrderCompleted
		d.CustomerID, d.Status, d.TotalAmount, d.Currency = e.CustomerID, "COMPLETED", &e.Total, e.Currency
	case *events.OrderFailed:
		name = EventOrderFailed
		d.CustomerID, d.Status, d.Reason, d.TotalAmount, d.Currency = e.CustomerID, "FAILED", e.Reason, e.Total, e.Currency
	case *events.OrderCancelled:
		name = EventOrderCancelled
		d.CustomerID, d.Status, d.Reason, d.TotalAmount, d.Currency = e.CustomerID, "CANCELLED", "CANCELLED", e.Total, e.Currency
	default:
		return "", nil, nil
	}
	body, err := json.Marshal(webhookPayload{Type: name, Timestamp: d.Time, Data: d})
	return name, body, err
}

// subscribers are the enabled subscriptions' events, by subscription id, as a consumer's batch
// read them.
type subscribers map[string][]string

// loadSubscribers reads which subscriptions want what, once per batch of order events.
func loadSubscribers(*sqlstore.Tx, []messaging.Event) (subscribers, []sqlstore.Read) {
	subs := subscribers{}
	return subs, []sqlstore.Read{{
		Query: `SELECT id, events FROM webhook_subscriptions WHERE disabled_at IS NULL`,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var id, evs string
				if err := rows.Scan(&id, &evs); err != nil {
					return err
				}
				subs[id] = strings.Fields(evs)
			}
			return rows.Err()
		},
	}}
}

// enqueueWebhooks writes, in the transaction that consumes ev, a delivery for each subscription
// that wants it. The delivery's id is derived from subscription, event and order, so a
// re-published event makes no second delivery; the loop is woken once the transaction commits.
func (s *Service) enqueueWebhooks(tx *sqlstore.Tx, subs subscribers, ev messaging.Event) error {
	name, body, err := payloadOf(ev)
	if err != nil || name == "" {
		return err
	}
	now := time.Now().UTC()
	for id, evs := range subs {
		if !slices.Contains(evs, name) {
			continue
		}
		deliveryID := uuid.NewSHA1(deliveryNamespace, []byte(id+"/"+name+"/"+ev.Envelope.Subject)).String()
		tx.ExecLater("webhook_deliveries", `INSERT INTO webhook_deliveries (id, subscription_id, event, order_id, body,
			state, next_attempt_at, give_up_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7) ON CONFLICT DO NOTHING`,
			deliveryID, id, name, ev.Envelope.Subject, string(body), DeliveryPending, now, now.Add(s.cfg.RetryFor))
		if tx.Once("webhooks") {
			tx.AfterCommit(s.wakeDeliveries)
		}
	}
	return nil
}

var deliveryNamespace = uuid.MustParse("8f4f0f0e-3f0a-4c59-9d7e-1c1f3a0b6d21")

func (s *Service) wakeDeliveries() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// due is a delivery to attempt, with what signing it needs.
type due struct {
	id, subscriptionID, url, body string
	attempts                      int // after the claim
	retryFrom                     int // attempts when the budget began
	giveUpAt                      time.Time
	secret, previous              string
	previousUntil                 sql.NullTime
}

// RunDeliveries delivers webhooks until ctx ends: it looks for deliveries due, claims each, and
// posts it on a goroutine of its own (at most maxInFlight), then sleeps until the next is due,
// a commit wakes it, or maxIdle passes.
func (s *Service) RunDeliveries(ctx context.Context) {
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	slots := make(chan struct{}, maxInFlight)
	for {
		next, err := s.deliverDue(ctx, slots, &inFlight)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("webhook deliveries: cannot read what is due", "err", err)
			next = time.Now().Add(time.Second)
		}
		timer := time.NewTimer(min(max(time.Until(next), 0), maxIdle))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverDue starts the deliveries due now and returns when the next one is due.
func (s *Service) deliverDue(ctx context.Context, slots chan struct{}, inFlight *sync.WaitGroup) (time.Time, error) {
	now := time.Now().UTC()
	list, err := sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (d due, err error) {
		err = r.Scan(&d.id, &d.subscriptionID, &d.url, &d.body, &d.attempts, &d.retryFrom, &d.giveUpAt, &d.secret, &d.previous, &d.previousUntil)
		return d, err
	}, `SELECT d.id, d.subscription_id, s.url, d.body, d.attempts, d.retry_from, d.give_up_at, s.secret, s.previous_secret, s.previous_until
		FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
		WHERE d.state = $1 AND d.next_attempt_at <= $2 AND s.disabled_at IS NULL
		ORDER BY d.next_attempt_at LIMIT $3`, DeliveryPending, now, dueBatch)
	if err != nil {
		return now, err
	}
	for _, d := range list {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return now, ctx.Err()
		}
		claimed, err := s.claim(ctx, &d)
		if err != nil || !claimed {
			<-slots
			if err != nil {
				return now, err
			}
			continue // another replica took it
		}
		inFlight.Go(func() {
			defer func() { <-slots }()
			s.attempt(ctx, d)
		})
	}
	if len(list) == dueBatch {
		return now, nil // more may be due
	}
	// ORDER BY and LIMIT rather than MIN: SQLite gives an aggregate's value as text, not a time.
	var next time.Time
	err = s.db.QueryRowContext(ctx, `SELECT d.next_attempt_at FROM webhook_deliveries d
		JOIN webhook_subscriptions s ON s.id = d.subscription_id
		WHERE d.state = $1 AND s.disabled_at IS NULL ORDER BY d.next_attempt_at LIMIT 1`, DeliveryPending).Scan(&next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return now.Add(maxIdle), nil
	case err != nil:
		return now, err
	}
	return next, nil
}

// claim takes a delivery for one attempt: it counts the attempt and moves the delivery's next
// attempt past this one's timeout, so no other loop takes it meanwhile; if this process dies
// mid-attempt, the delivery is due again then. attempts versions the row.
func (s *Service) claim(ctx context.Context, d *due) (bool, error) {
	lease := time.Now().UTC().Add(2*s.cfg.Timeout + time.Second)
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $3
		WHERE id = $1 AND attempts = $2 AND state = $4`, d.id, d.attempts, lease, DeliveryPending)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if n == 1 {
		d.attempts++
	}
	return n == 1, err
}

// attempt posts a claimed delivery once and records what came of it.
func (s *Service) attempt(ctx context.Context, d due) {
	at := time.Now().UTC()
	headers, err := sign(d, at)
	var a answer
	switch {
	case err != nil:
		a.err = "sign: " + err.Error()
	case checkTarget(d.url, s.cfg.AllowInsecure) != nil: // made while http:// was allowed
		a.err = "refused: " + checkTarget(d.url, s.cfg.AllowInsecure).Error()
	default:
		a = s.poster.post(ctx, d.url, headers, []byte(d.body))
	}
	if a.status == 0 && ctx.Err() != nil {
		return // shutting down cut it short: the claim runs out and the delivery is tried again
	}
	// An answer is recorded even while shutting down, or a delivered event would be sent again.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	outcome := s.record(recordCtx, d, at, a)
	s.metrics.WebhookAttempt(outcome, a.took)
	s.wakeDeliveries() // the loop slept until this attempt's claim ran out; its retry may be sooner
}

// sign makes a delivery's Standard Webhooks headers: its id, the time, and a v1 signature with
// the secret and, during a rotation's grace period, the previous one too.
func sign(d due, at time.Time) (http.Header, error) {
	secrets := []string{d.secret}
	if d.previous != "" && d.previousUntil.Valid && at.Before(d.previousUntil.Time) {
		secrets = append(secrets, d.previous)
	}
	var sigs []string
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, err
		}
		sig, err := wh.Sign(d.id, at, []byte(d.body))
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, d.id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	return h, nil
}

// record stores an attempt and decides what follows: done on a 2xx; on 410, the subscription is
// disabled; otherwise the delivery is tried again after a backoff, unless that would pass its
// budget, which disables the subscription too. It returns the outcome.
func (s *Service) record(ctx context.Context, d due, at time.Time, a answer) string {
	now := time.Now().UTC()
	next := now.Add(s.backoff(d.attempts - d.retryFrom))
	outcome := outcomeOf(a.status, next, d.giveUpAt)
	disables := outcome == OutcomeGone || outcome == OutcomeGaveUp
	reason := "the endpoint answered 410 Gone"
	if outcome == OutcomeGaveUp {
		reason = fmt.Sprintf("every attempt failed for %s; the last: %s", s.cfg.RetryFor, a.err)
	}
	err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		// A disabling attempt locks its subscription before any delivery: two of them on
		// PostgreSQL would otherwise each hold a delivery the other's fail-the-rest update needs.
		if disables {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_subscriptions SET disabled_at = $2, disabled_reason = $3
				WHERE id = $1 AND disabled_at IS NULL`, d.subscriptionID, now, reason); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, updated_at = $5
			WHERE id = $1 AND attempts = $2 AND state = $6`, d.id, d.attempts, stateAfter(outcome), next, now, DeliveryPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Deleted with its subscription, failed with it, or taken over after the claim ran
			// out: this attempt decides nothing.
			return errStale
		}
		tx.ExecLater("webhook_attempts", `INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, latency_ms, error)
			VALUES ($1, $2, $3, $4, $5, $6)`, d.id, d.attempts, at, a.status, a.took.Milliseconds(), a.err)
		if disables {
			tx.ExecLater("webhook_deliveries", `UPDATE webhook_deliveries SET state = $2, updated_at = $3
				WHERE subscription_id = $1 AND state = $4`, d.subscriptionID, DeliveryFailed, now, DeliveryPending)
		}
		return nil
	})
	switch {
	case errors.Is(err, errStale):
	case err != nil:
		s.log.Warn("webhook delivery: cannot record an attempt", "delivery", d.id, "err", err)
	case disables:
		s.log.Warn("webhook subscription disabled", "subscription", d.subscriptionID, "reason", reason)
	}
	return outcome
}

// errStale rolls back the record of an attempt whose delivery changed meanwhile.
var errStale = errors.New("the delivery changed during the attempt")

// backoff is the wait after the attempt-th failed attempt of a budget: the base doubled each time, up to the
// cap, with ±20% jitter so that deliveries failing together do not retry together.
func (s *Service) backoff(attempt int) time.Duration {
	wait := s.cfg.RetryBase
	for i := 1; i < attempt && wait < s.cfg.RetryCap; i++ {
		wait *= 2
	}
	wait = min(wait, s.cfg.RetryCap)
	jitter := time.Duration(rand.Int64N(int64(wait)/5*2+1)) - wait/5
	return wait + jitter
}
