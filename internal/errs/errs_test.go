package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ordersys/ordersys/internal/errs"
)

func TestCodeOf(t *testing.T) {
	notFound := errs.New(errs.ENOTFOUND, "Order not found", "order not found")
	for _, c := range []struct {
		err  error
		want errs.Code
	}{
		{nil, ""},
		{errors.New("disk full"), errs.EINTERNAL},
		{notFound, errs.ENOTFOUND},
		{fmt.Errorf("get order: %w", notFound), errs.ENOTFOUND},
		{errs.Invalid(errs.FieldError{Field: "currency", Message: "unknown"}), errs.EINVALID},
		{errors.Join(errors.New("a"), errs.New(errs.ECONFLICT, "", "")), errs.ECONFLICT},
	} {
		if got := errs.CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	// Sentinels are wrapped with more text, so Error is the plain message.
	if got := fmt.Errorf("%w: 1.2345", errs.New(errs.EINVALID, "Invalid quantity", "invalid quantity")).Error(); got != "invalid quantity: 1.2345" {
		t.Errorf("wrapped message %q", got)
	}
	if got := errs.New(errs.ENOTFOUND, "SKU not found", "").Error(); got != "SKU not found" {
		t.Errorf("message without detail %q", got)
	}
	if !errors.Is(fmt.Errorf("x: %w", notFound), notFound) {
		t.Error("errors.Is does not find a wrapped sentinel")
	}
}
