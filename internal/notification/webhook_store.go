package notification

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

var errNoSubscription = errs.New(errs.ENOTFOUND, "No such webhook", "no webhook subscription has this id")

// Subscribe stores a subscription and returns it with its secret, which is shown only now.
func (s *Service) Subscribe(ctx context.Context, n NewWebhook) (Webhook, error) {
	if err := n.validate(s.cfg.AllowInsecure); err != nil {
		return Webhook{}, err
	}
	sub := Webhook{ID: uuid.NewString(), URL: n.URL, Events: n.Events, Description: n.Description,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Secret: newSecret()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO webhook_subscriptions (id, url, events, description, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, sub.ID, sub.URL, strings.Join(sub.Events, " "), sub.Description, sub.Secret, sub.CreatedAt)
	if err != nil {
		return Webhook{}, fmt.Errorf("store webhook subscription: %w", err)
	}
	return sub, nil
}

const subscriptionColumns = `id, url, events, description, created_at, disabled_at, disabled_reason`

func scanWebhook(r sqlstore.Scanner) (Webhook, error) {
	var sub Webhook
	var evs string
	var disabled sql.NullTime
	if err := r.Scan(&sub.ID, &sub.URL, &evs, &sub.Description, &sub.CreatedAt, &disabled, &sub.DisabledReason); err != nil {
		return sub, err
	}
	sub.Events = strings.Fields(evs)
	sub.CreatedAt = sub.CreatedAt.UTC()
	if disabled.Valid {
		at := disabled.Time.UTC()
		sub.DisabledAt = &at
	}
	return sub, nil
}

// Webhooks lists a page of the subscriptions (1-based), oldest first, without secrets, and how
// many there are.
func (s *Service) Webhooks(ctx context.Context, page, size int) ([]Webhook, int64, error) {
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_subscriptions`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count webhooks: %w", err)
	}
	list, err := sqlstore.Collect(ctx, s.db, scanWebhook, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions
		ORDER BY created_at, id LIMIT $1 OFFSET $2`, size, (page-1)*size)
	return list, total, err
}

// Webhook is one subscription, without its secret.
func (s *Service) Webhook(ctx context.Context, id string) (Webhook, error) {
	sub, err := scanWebhook(s.db.QueryRowContext(ctx,
		`SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return sub, errNoSubscription
	}
	return sub, err
}

// Unsubscribe deletes a subscription and its deliveries: nothing more is sent to it.
func (s *Service) Unsubscribe(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoSubscription
		}
		tx.ExecLater("webhook_attempts", `DELETE FROM webhook_attempts WHERE delivery_id IN
			(SELECT id FROM webhook_deliveries WHERE subscription_id = $1)`, id)
		tx.ExecLater("webhook_deliveries", `DELETE FROM webhook_deliveries WHERE subscription_id = $1`, id)
		return nil
	})
}

// RotateSecret gives a subscription a new secret and returns it. The old one signs too, beside
// it, until the returned time, so a receiver can change its secret without refusing a delivery.
func (s *Service) RotateSecret(ctx context.Context, id string) (secret string, oldValidUntil time.Time, err error) {
	secret, oldValidUntil = newSecret(), time.Now().UTC().Add(s.cfg.SecretGrace).Truncate(time.Microsecond)
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_subscriptions
		SET previous_secret = secret, previous_until = $2, secret = $3 WHERE id = $1`, id, oldValidUntil, secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", time.Time{}, errNoSubscription
	}
	return secret, oldValidUntil, nil
}

// Deliveries lists a page (1-based) of a subscription's deliveries, newest first, with their
// attempts, and how many it has.
func (s *Service) Deliveries(ctx context.Context, subscriptionID string, page, size int) ([]Delivery, int64, error) {
	if _, err := s.Webhook(ctx, subscriptionID); err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = $1`,
		subscriptionID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count webhook deliveries: %w", err)
	}
	list, err := sqlstore.Collect(ctx, s.db, scanDelivery, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE subscription_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, subscriptionID, size, (page-1)*size)
	if err != nil || len(list) == 0 {
		return list, total, err
	}
	byID := make(map[string]*Delivery, len(list))
	ids := make([]string, len(list))
	for i := range list {
		byID[list[i].ID], ids[i] = &list[i], list[i].ID
	}
	in, args := s.db.In(0, ids)
	rows, err := s.db.QueryContext(ctx, `SELECT delivery_id, at, status_code, latency_ms, error
		FROM webhook_attempts WHERE delivery_id `+in+` ORDER BY delivery_id, attempt`, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a Attempt
		var ms int64
		if err := rows.Scan(&id, &a.At, &a.StatusCode, &ms, &a.Error); err != nil {
			return nil, 0, err
		}
		a.At, a.Latency = a.At.UTC(), time.Duration(ms)*time.Millisecond
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	return list, total, rows.Err()
}

const deliveryColumns = `id, subscription_id, event, order_id, state, created_at, next_attempt_at`

func scanDelivery(r sqlstore.Scanner) (Delivery, error) {
	var d Delivery
	var next time.Time
	if err := r.Scan(&d.ID, &d.SubscriptionID, &d.Event, &d.OrderID, &d.State, &d.CreatedAt, &next); err != nil {
		return d, err
	}
	d.CreatedAt = d.CreatedAt.UTC()
	if d.State == DeliveryPending {
		next = next.UTC()
		d.NextAttemptAt = &next
	}
	return d, nil
}

// Resend puts a delivery back to be sent now, with a new retry budget: one that failed, or one
// delivered that the receiver wants again. A delivery fails only when its subscription is
// disabled, so resending one enables the subscription again: the operator says the endpoint is
// fixed. The other deliveries that failed with it stay failed until resent.
func (s *Service) Resend(ctx context.Context, subscriptionID, deliveryID string) (Delivery, error) {
	if _, err := s.Webhook(ctx, subscriptionID); err != nil {
		return Delivery{}, err
	}
	now := time.Now().UTC()
	var resent int64
	err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, give_up_at = $5,
			retry_from = attempts, updated_at = $4 WHERE id = $1 AND subscription_id = $2 AND state <> $3`,
			deliveryID, subscriptionID, DeliveryPending, now, now.Add(s.cfg.RetryFor))
		if err != nil {
			return fmt.Errorf("resend webhook delivery: %w", err)
		}
		if resent, err = res.RowsAffected(); err != nil || resent == 0 {
			return err
		}
		tx.ExecLater("webhook_subscriptions", `UPDATE webhook_subscriptions SET disabled_at = NULL, disabled_reason = ''
			WHERE id = $1`, subscriptionID)
		return nil
	})
	if err != nil {
		return Delivery{}, err
	}
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE id = $1 AND subscription_id = $2`, deliveryID, subscriptionID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, errs.New(errs.ENOTFOUND, "No such delivery", "this webhook has no delivery with this id")
	case err != nil:
		return d, err
	case resent == 0:
		return d, errs.New(errs.ECONFLICT, "Delivery pending", "the delivery is still being tried; it needs no resend")
	}
	s.wakeDeliveries()
	return d, nil
}

// prunable selects a batch of deliveries to prune: ended before the cutoff, through the index of
// ended deliveries, or pending for a subscription that no longer takes them (a consumer on
// PostgreSQL can write one while another transaction disables or deletes its subscription).
const prunable = `SELECT id FROM webhook_deliveries WHERE state <> 'PENDING' AND updated_at < $1
	UNION SELECT d.id FROM webhook_deliveries d LEFT JOIN webhook_subscriptions s ON s.id = d.subscription_id
	WHERE d.state = 'PENDING' AND d.updated_at < $1 AND (s.id IS NULL OR s.disabled_at IS NOT NULL)
	LIMIT $2`

// PruneDeliveries deletes the deliveries that ended before now - KeepDeliveries, with their
// attempts, at most batch deliveries per transaction. It returns how many deliveries it deleted.
func (s *Service) PruneDeliveries(ctx context.Context, now time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = messaging.DefaultRetentionBatch
	}
	cutoff := now.Add(-s.cfg.KeepDeliveries).UTC()
	var total int64
	for {
		var ids []string
		err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
			var err error
			if ids, err = sqlstore.Collect(ctx, tx, func(r sqlstore.Scanner) (id string, err error) {
				return id, r.Scan(&id)
			}, prunable, cutoff, batch); err != nil || len(ids) == 0 {
				return err
			}
			in, args := tx.In(0, ids)
			tx.ExecLater("webhook_attempts", `DELETE FROM webhook_attempts WHERE delivery_id `+in, args...)
			tx.ExecLater("webhook_deliveries", `DELETE FROM webhook_deliveries WHERE id `+in, args...)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune webhook deliveries: %w", err)
		}
		total += int64(len(ids))
		if len(ids) < batch {
			return total, nil
		}
	}
}
