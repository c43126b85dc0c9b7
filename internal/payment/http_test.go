package payment_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
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
		if _, body := listPaymentsAs(t, h, auth.Anyone, declined); body != `{"items":[]}` {
			t.Errorf("declined order lists %s, want no items", body)
		}
	})
}

// listPayments lists the order's payments through the API, as a caller who sees every customer.
func listPayments(t *testing.T, h *harness, order uuid.UUID) []api.Payment {
	t.Helper()
	items, _ := listPaymentsAs(t, h, auth.Anyone, order)
	return items
}

// listPaymentsAs lists the order's payments through the API as p, and returns the body too.
func listPaymentsAs(t *testing.T, h *harness, p auth.Principal, order uuid.UUID) ([]api.Payment, string) {
	t.Helper()
	resp, err := payment.NewAPI(h.svc).ListPayments(auth.NewContext(t.Context(), p),
		api.ListPaymentsRequestObject{Params: api.ListPaymentsParams{OrderId: order}})
	if err != nil {
		t.Fatal(err)
	}
	list, ok := resp.(api.ListPayments200JSONResponse)
	if !ok {
		t.Fatalf("response %T", resp)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return list.Items, string(body)
}

// TestListPaymentsFollowsTheOwner: a customer lists only its own orders' payments; for another
// customer's order it gets what an order without payments gets. An admin, and every caller when
// authentication is off, sees them all; a context without a principal sees none.
func TestListPaymentsFollowsTheOwner(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		owner, other := uuid.NewString(), uuid.NewString()
		order := uuid.New()
		charged := wantCharged(t, h.do(order.String(), chargeCmd(order.String(), owner, "12.5")), order.String(), "12.5")
		_, none := listPaymentsAs(t, h, customer(owner), uuid.New())
		if none != `{"items":[]}` {
			t.Fatalf("an order without payments lists %s", none)
		}
		for _, c := range []struct {
			name string
			p    auth.Principal
			sees bool
		}{
			{"owner", customer(owner), true},
			{"another customer", customer(other), false},
			{"admin", admin(other), true},
			{"anyone (auth off)", auth.Anyone, true},
			{"nobody", auth.Principal{}, false},
		} {
			items, body := listPaymentsAs(t, h, c.p, order)
			switch {
			case c.sees && (len(items) != 1 || items[0].PaymentId != charged.PaymentID):
				t.Errorf("%s lists %s, want the charge %s", c.name, body, charged.PaymentID)
			case !c.sees && body != none:
				t.Errorf("%s lists %s, want %s as for an order without payments", c.name, body, none)
			}
		}
	})
}

// customer is a customer's principal, with the read scope a token grants it.
func customer(id string) auth.Principal {
	return auth.Principal{Subject: id, Scopes: []string{auth.ScopeRead}}
}

// admin is an operator's principal; its subject is a customer's, to show that it is not limited
// to that one.
func admin(id string) auth.Principal {
	return auth.Principal{Subject: id, Scopes: []string{auth.ScopeRead, auth.ScopeAdmin}}
}
