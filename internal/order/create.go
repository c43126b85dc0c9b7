package order

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
)

// ErrKeyReused is returned when an Idempotency-Key comes back with a different request.
var ErrKeyReused = errs.New(errs.EKEYREUSED, "Idempotency-Key reused",
	"this Idempotency-Key was used with a different request")

// Request is an order to place, as a client asks for it.
type Request struct {
	CustomerID uuid.UUID
	Currency   string
	Address    Address
	Items      []Item
}

// Address is where a Request ships to. A nil line 2 or postal code was not sent at all, which
// requestHash tells apart from one sent empty: the hashes of stored keys depend on it.
type Address struct {
	Country, City, AddressLine1 string
	AddressLine2, PostalCode    *string
}

// maxQuantityDigits is how many fraction digits a quantity may have (grams of a kilogram).
const maxQuantityDigits = 3

// validate checks what the OpenAPI schema cannot: the currency is a real ISO 4217 code and amounts
// fit it. It names every bad field (by its JSON path in the API), so a client can fix them all at
// once.
func validate(req Request) []errs.FieldError {
	var fields []errs.FieldError
	scale, err := events.MinorUnit(req.Currency)
	if err != nil {
		fields = append(fields, errs.FieldError{Field: "currency", Message: err.Error()})
	}
	for i, it := range req.Items {
		fields = append(fields, checkItem(i, &it.Quantity, &it.UnitPrice, req.Currency, scale, err == nil)...)
	}
	return fields
}

// checkItem checks line i's quantity and unit price, each only if known (nil: not readable, which
// is the schema's to report), and the price's digits against the currency's minor unit, scale,
// only if that is known (scaled).
func checkItem(i int, quantity, unitPrice *decimal.Decimal, currency string, scale int32, scaled bool) []errs.FieldError {
	var fields []errs.FieldError
	bad := func(field, format string, args ...any) {
		fields = append(fields, errs.FieldError{Field: fmt.Sprintf("items[%d].%s", i, field), Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case quantity == nil:
	case !quantity.IsPositive():
		bad("quantity", "must be greater than 0")
	case !withinDigits(*quantity, maxQuantityDigits):
		bad("quantity", "must have at most %d fraction digits", maxQuantityDigits)
	}
	switch {
	case unitPrice == nil:
	case unitPrice.IsNegative():
		bad("unitPrice", "must not be negative")
	case scaled && !withinDigits(*unitPrice, scale):
		bad("unitPrice", "%s has %d fraction digits; %s allows %d", unitPrice, -unitPrice.Exponent(), currency, scale)
	}
	return fields
}

// checkTotal refuses an order whose total rounds to zero though some of its prices are not zero
// (0.001 of a thing at 1.00 USD): it would complete, and take its stock, for nothing.
func checkTotal(req Request) error {
	scale, _ := events.MinorUnit(req.Currency) // validated before
	if !orderTotal(req.Items, scale).IsZero() ||
		!slices.ContainsFunc(req.Items, func(it Item) bool { return it.UnitPrice.IsPositive() }) {
		return nil
	}
	return errs.New(errs.EREFUSED, "The total rounds to zero", fmt.Sprintf(
		"the items' prices are not zero, but their total rounds to 0 %s; order larger quantities", req.Currency))
}

// Placed is the answer to a create request.
type Placed struct {
	Body     Created
	Replayed bool
}

// Created is what a create request answers. It is stored as JSON for replays, so its JSON is a
// storage format: the API's OrderCreated, field for field and in order, amounts as plain numbers
// (package api sets decimal to write them so).
type Created struct {
	CreatedAt   time.Time       `json:"createdAt"`
	Currency    string          `json:"currency"`
	OrderID     uuid.UUID       `json:"orderId"`
	Status      Status          `json:"status"`
	TotalAmount decimal.Decimal `json:"totalAmount"`
}

// The HTTP status of each stored answer, for idempotency_keys.status_code (NOT NULL); nothing
// reads it back.
const (
	createdCode  = 201
	acceptedCode = 202
)

// Create places an order under an Idempotency-Key. The order, its OrderCreated event and the
// stored answer commit in one transaction, so a key never points at a missing order nor an order
// lacks its answer. RunFirstSteps then starts its saga.
//
// Most keys are new, so the first attempt does not look the key up: the whole transaction is one
// round trip to PostgreSQL. A key that is taken fails that commit on its unique index, and the
// next attempt looks it up: it replays the stored answer, reports a key reused for a different
// request, or replaces an expired one. A request that races another with the same key waits for
// it (SQLite's single writer, or PostgreSQL's unique index) and so replays its answer.
//
// An invalid request is refused with an errs.EINVALID error that names every bad field.
func (s *Service) Create(ctx context.Context, key string, req Request) (Placed, error) {
	if fields := validate(req); len(fields) > 0 {
		return Placed{}, errs.Invalid(fields...)
	}
	if err := checkTotal(req); err != nil {
		return Placed{}, err
	}
	hash, err := requestHash(req)
	if err != nil {
		return Placed{}, err
	}
	release, err := s.admission.admit(ctx)
	if err != nil {
		return Placed{}, err
	}
	defer release()
	placed, err := s.create(ctx, key, hash, req, false)
	for range 2 { // twice: an expired key can be replaced by a racing request before us
		if !sqlstore.IsUniqueViolation(err) {
			break
		}
		placed, err = s.create(ctx, key, hash, req, true)
	}
	if err == nil && !placed.Replayed {
		s.metrics.OrderCreated()
		s.admission.inFlight.Add(1)
		s.firstSteps.add(placed.Body.OrderID.String())
	}
	return placed, err
}

const createScope = "POST /orders/create"

// keyScope is the scope of an Idempotency-Key sent to the operation op: the caller's own as well,
// so that two customers who happen to send the same key make two requests.
func keyScope(ctx context.Context, op string) string {
	if caller := auth.FromContext(ctx).KeyScope(); caller != "" {
		return op + " by " + caller
	}
	return op
}

// create places the order in one transaction, first looking the key up if lookUp is set.
func (s *Service) create(ctx context.Context, key, hash string, req Request, lookUp bool) (Placed, error) {
	var placed Placed
	err := s.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		if lookUp {
			stored, err := s.recall(ctx, tx, keyScope(ctx, createScope), key, hash)
			if err != nil {
				return err
			}
			if stored != nil {
				placed = Placed{Replayed: true}
				return json.Unmarshal(stored.body, &placed.Body)
			}
		}
		o := newOrder(req)
		o.TraceParent, o.TraceState = tracing.Inject(ctx)
		insertOrder(tx, o, o.CreatedAt.Add(s.StepTimeout))
		msg, err := events.New(Name, o.ID, events.OrderCreated{
			OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total, Currency: o.Currency})
		if err != nil {
			return err
		}
		if err := s.outbox.Put(ctx, tx, msg); err != nil {
			return err
		}
		placed = Placed{Body: Created{
			OrderID: uuid.MustParse(o.ID), Status: o.Status, TotalAmount: o.Total,
			Currency: o.Currency, CreatedAt: o.CreatedAt,
		}}
		return remember(tx, keyScope(ctx, createScope), key, hash, createdCode, placed.Body, o.CreatedAt)
	})
	return placed, err
}

// storedAnswer is the answer an Idempotency-Key already has.
type storedAnswer struct {
	body []byte
}

// recall looks an Idempotency-Key up in tx: the stored answer if the same request was made under
// it, ErrKeyReused if a different one was, nil if the key is new (or expired).
func (s *Service) recall(ctx context.Context, tx *sqlstore.Tx, scope, key, hash string) (*storedAnswer, error) {
	var storedHash, response string
	var storedAt time.Time
	err := tx.QueryRowContext(ctx, `SELECT request_hash, response, created_at FROM idempotency_keys
		WHERE scope = $1 AND idem_key = $2`, scope, key).Scan(&storedHash, &response, &storedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read idempotency key: %w", err)
	case storedAt.After(now().Add(-s.IdempotencyTTL)):
		if storedHash != hash {
			return nil, ErrKeyReused
		}
		return &storedAnswer{[]byte(response)}, nil
	}
	// Expired but not pruned yet: it no longer counts.
	if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2`,
		scope, key); err != nil {
		return nil, fmt.Errorf("expire idempotency key: %w", err)
	}
	return nil, nil
}

// remember stores the answer to a request under its Idempotency-Key, in the request's own
// transaction. The insert goes with the commit: if a racing request took the key first, the
// commit fails on the unique key and the caller replays the winner's answer.
func remember(tx *sqlstore.Tx, scope, key, hash string, status int, body any, at time.Time) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	tx.ExecLater("idempotency_keys", `INSERT INTO idempotency_keys
		(scope, idem_key, request_hash, status_code, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		scope, key, hash, status, string(b), at)
	return nil
}

func newOrder(req Request) *Order {
	scale, _ := events.MinorUnit(req.Currency) // validated before
	at := now()
	a := req.Address
	return &Order{
		ID:         uuid.Must(uuid.NewV7()).String(), // time-ordered: index-friendly
		CustomerID: req.CustomerID.String(),
		Status:     Pending,
		Currency:   req.Currency,
		Total:      orderTotal(req.Items, scale),
		Address: events.Address{Country: a.Country, City: a.City, AddressLine1: a.AddressLine1,
			AddressLine2: deref(a.AddressLine2), PostalCode: deref(a.PostalCode)},
		Items:     append([]Item(nil), req.Items...),
		CreatedAt: at,
		UpdatedAt: at,
	}
}

// requestHash fingerprints the request's meaning: 14.50 and 14.5 are the same quantity. Stored
// keys hold it, so what it hashes must not change: the JSON of the API's CreateOrderRequest with
// its amounts normalized, written as plain numbers.
func requestHash(req Request) (string, error) {
	type item struct {
		Quantity  json.Number `json:"quantity"`
		SKU       string      `json:"sku"`
		UnitPrice json.Number `json:"unitPrice"`
	}
	type address struct {
		AddressLine1 string  `json:"addressLine1"`
		AddressLine2 *string `json:"addressLine2,omitempty"`
		City         string  `json:"city"`
		Country      string  `json:"country"`
		PostalCode   *string `json:"postalCode,omitempty"`
	}
	a := req.Address
	canon := struct {
		Currency        string    `json:"currency"`
		CustomerID      uuid.UUID `json:"customerId"`
		Items           []item    `json:"items"`
		ShippingAddress address   `json:"shippingAddress"`
	}{
		Currency: req.Currency, CustomerID: req.CustomerID, Items: make([]item, len(req.Items)),
		ShippingAddress: address{AddressLine1: a.AddressLine1, AddressLine2: a.AddressLine2, City: a.City,
			Country: a.Country, PostalCode: a.PostalCode},
	}
	for i, it := range req.Items {
		canon.Items[i] = item{Quantity: json.Number(it.Quantity.Normalize().String()), SKU: it.SKU,
			UnitPrice: json.Number(it.UnitPrice.Normalize().String())}
	}
	b, err := json.Marshal(canon)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
