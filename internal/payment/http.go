package payment

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
)

// API implements the payment operations of the REST API on top of the service.
type API struct{ svc *Service }

// NewAPI returns the payment API of svc.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// ListPayments is GET /api/v1/payments?orderId=: the order's charges and refunds, oldest first
// (declined attempts are not payments). An order with none, or unknown here, has an empty list,
// and so, for a customer, has another customer's order: the answer says nothing of whose it is.
func (a *API) ListPayments(ctx context.Context, req api.ListPaymentsRequestObject) (api.ListPaymentsResponseObject, error) {
	customer, limited := auth.FromContext(ctx).Customer()
	if limited && customer == "" {
		return api.ListPayments200JSONResponse{Items: []api.Payment{}}, nil // nobody sees nothing (fail closed)
	}
	payments, err := a.svc.PaymentsFor(ctx, req.Params.OrderId.String(), customer)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	items := make([]api.Payment, 0, len(payments))
	for _, p := range payments {
		amount, err := decimal.NewFromString(p.Amount)
		if err != nil {
			return nil, fmt.Errorf("payment %s: stored amount %q: %w", p.ID, p.Amount, err)
		}
		items = append(items, api.Payment{PaymentId: p.ID, OrderId: req.Params.OrderId, Kind: api.PaymentKind(p.Kind),
			Amount: amount, Currency: p.Currency, CreatedAt: p.CreatedAt.UTC()})
	}
	return api.ListPayments200JSONResponse{Items: items}, nil
}
