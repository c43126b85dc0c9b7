package payment_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/payment"
)

func TestListPayments(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.New()
		order := uuid.New()
		a := listPayments(t, h, order)
		if len(a) != 0 {
			t.Errorf("before any command: %+v", a)
		}
		charged := wantCharged(t, h.do(order.String(), chargeCmd(order.String(), customer.String(), "123.45")),
			order.String(), "123.45")
		refunded := wantRefunded(t, h.do(order.String(), refundCmd(order.String(), customer.String(), "123.45")),
			order.String())
		items := listPayments(t, h, order)
		if len(items) != 2 {
			t.Fatalf("items %+v, want a charge and a refund", items)
		}
		for i, want := range []struct {
			id   string
			kind api.PaymentKind
		}{{charged.PaymentID, api.CHARGE}, {refunded.RefundID, api.REFUND}} {
			got := items[i]
			if got.PaymentId != want.id || got.Kind != want.kind || got.OrderId != order ||
				got.Amount.String() != "123.45" || got.Currency != "USD" || got.CreatedAt.IsZero() {
				t.Errorf("item %d = %+v, want %s %s", i, got, want.kind, want.id)
			}
		}
		if items[1].CreatedAt.Before(items[0].CreatedAt) {
			t.Errorf("refund listed before its charge: %v then %v", items[0].CreatedAt, items[1].CreatedAt)
		}

		// A declined attempt is not a payment; the list is empty, and empty is [] in JSON.
		declined := uuid.New()
		wantDeclined(t, h.do(declined.String(), chargeCmd(declined.String(), customer.String(), "5000")),
			declined.String(), payment.ReasonCreditLimitExceeded)
		resp, err := payment.NewAPI(h.svc).ListPayments(t.Context(),
			api.ListPaymentsRequestObject{Params: api.ListPaymentsParams{OrderId: declined}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(resp)
		if string(body) != `{"items":[]}` {
			t.Errorf("declined order lists %s, want no items", body)
		}
	})
}

// listPayments lists the order's payments through the API.
func listPayments(t *testing.T, h *harness, order uuid.UUID) []api.Payment {
	t.Helper()
	resp, err := payment.NewAPI(h.svc).ListPayments(t.Context(),
		api.ListPaymentsRequestObject{Params: api.ListPaymentsParams{OrderId: order}})
	if err != nil {
		t.Fatal(err)
	}
	list, ok := resp.(api.ListPayments200JSONResponse)
	if !ok {
		t.Fatalf("response %T", resp)
	}
	return list.Items
}
