package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/httpx"
)

func TestProblemFor(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errs.New(errs.ENOTFOUND, "Order not found", "no order has id 1"),
			`{"detail":"no order has id 1","status":404,"title":"Order not found","type":"urn:ordersys:problem:not-found"}`},
		{fmt.Errorf("cancel: %w", errs.New(errs.ECONFLICT, "The order has already ended", "")),
			`{"status":409,"title":"The order has already ended","type":"urn:ordersys:problem:conflict"}`},
		{errs.New(errs.EKEYREUSED, "", "used with a different request"),
			`{"detail":"used with a different request","status":422,"title":"Idempotency-Key reused","type":"urn:ordersys:problem:idempotency-key-reused"}`},
		{errs.New(errs.EBADKEY, "Idempotency-Key is too long", "at most 255"),
			`{"detail":"at most 255","status":400,"title":"Idempotency-Key is too long","type":"urn:ordersys:problem:idempotency-key"}`},
		{errs.New(errs.EUNAVAILABLE, "Replay failed", "broker down"),
			`{"detail":"broker down","status":503,"title":"Replay failed","type":"urn:ordersys:problem:unavailable"}`},
		// A database that is down, whatever the layer that met it, is 503: a retry may succeed.
		{fmt.Errorf("begin: %w", &pgconn.ConnectError{}),
			`{"detail":"the database is unavailable; retry the request, with the same Idempotency-Key, after Retry-After seconds","status":503,"title":"Service unavailable","type":"urn:ordersys:problem:unavailable"}`},
		{errs.Invalid(errs.FieldError{Field: "currency", Message: "unknown"}, errs.FieldError{Field: "items[0].sku", Message: "bad"}),
			`{"detail":"See errors for each invalid field.","errors":[{"field":"currency","message":"unknown"},{"field":"items[0].sku","message":"bad"}],"status":400,"title":"The request is invalid","type":"urn:ordersys:problem:validation"}`},
		{fmt.Errorf("%w: 1.2345", errs.New(errs.EINVALID, "", "invalid quantity")),
			`{"detail":"See errors for each invalid field.","errors":[{"field":"","message":"invalid quantity: 1.2345"}],"status":400,"title":"The request is invalid","type":"urn:ordersys:problem:validation"}`},
		// Internal errors, and codes without an answer, tell the client nothing of the cause.
		{errors.New("disk full"),
			`{"detail":"the request could not be completed; it is safe to retry with the same Idempotency-Key","status":500,"title":"Internal error","type":"urn:ordersys:problem:internal"}`},
		{errs.New(errs.EINTERNAL, "secret", "secret"),
			`{"detail":"the request could not be completed; it is safe to retry with the same Idempotency-Key","status":500,"title":"Internal error","type":"urn:ordersys:problem:internal"}`},
		{errs.New("nonsense", "secret", "secret"),
			`{"detail":"the request could not be completed; it is safe to retry with the same Idempotency-Key","status":500,"title":"Internal error","type":"urn:ordersys:problem:internal"}`},
	} {
		p := httpx.ProblemFor(c.err)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("ProblemFor(%v) =\n%s\nwant\n%s", c.err, b, c.want)
		}
		if p.Status < http.StatusBadRequest {
			t.Errorf("ProblemFor(%v) status %d", c.err, p.Status)
		}
	}
}

// TestProblemForDeadline: a request whose own time ran out is not a database that is down.
func TestProblemForDeadline(t *testing.T) {
	if p := httpx.ProblemFor(fmt.Errorf("read order: %w", context.DeadlineExceeded)); p.Status != http.StatusInternalServerError {
		t.Errorf("a deadline answered %d, want 500", p.Status)
	}
}
