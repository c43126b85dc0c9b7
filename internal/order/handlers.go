package order

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
)

// API implements the order operations of the REST API on top of the service.
type API struct{ svc *Service }

// NewAPI returns the order API of svc.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

type createResponse interface {
	api.CreateOrderResponseObject
	api.CreateOrderExternalResponseObject
}

// both response types of the two create paths are the same shape; this one value serves both.
type created struct{ api.CreateOrder201JSONResponse }

func (c created) VisitCreateOrderExternalResponse(w http.ResponseWriter) error {
	return c.VisitCreateOrderResponse(w)
}

type problem struct {
	api.CreateOrderdefaultApplicationProblemPlusJSONResponse
}

func (p problem) VisitCreateOrderExternalResponse(w http.ResponseWriter) error {
	return p.VisitCreateOrderResponse(w)
}

func newProblem(p api.Problem) problem {
	return problem{api.CreateOrderdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}}
}

// CreateOrder is POST /api/v1/orders/create.
func (a *API) CreateOrder(ctx context.Context, req api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error) {
	return a.create(ctx, req.Params.IdempotencyKey, req.Body)
}

// CreateOrderExternal is the seed's path for the same operation.
func (a *API) CreateOrderExternal(ctx context.Context, req api.CreateOrderExternalRequestObject) (api.CreateOrderExternalResponseObject, error) {
	return a.create(ctx, req.Params.IdempotencyKey, req.Body)
}

func (a *API) create(ctx context.Context, key *string, body *api.CreateOrderRequest) (createResponse, error) {
	if key == nil || strings.TrimSpace(*key) == "" {
		return newProblem(httpx.NewProblem(http.StatusBadRequest, httpx.TypeIdempotency, "Idempotency-Key is required",
			"send a unique Idempotency-Key header (a UUID is a good choice) so the request can be retried safely")), nil
	}
	if utf8.RuneCountInString(*key) > 255 {
		return newProblem(httpx.NewProblem(http.StatusBadRequest, httpx.TypeIdempotency, "Idempotency-Key is too long",
			"keys are at most 255 characters")), nil
	}
	if errs := validate(body); len(errs) > 0 {
		return newProblem(httpx.ValidationProblem(errs)), nil
	}
	placed, err := a.svc.Create(ctx, *key, body)
	if errors.Is(err, ErrKeyReused) {
		return newProblem(httpx.NewProblem(http.StatusUnprocessableEntity, httpx.TypeKeyReused,
			"Idempotency-Key reused", err.Error())), nil
	}
	if err != nil {
		return nil, err
	}
	resp := api.CreateOrder201JSONResponse{OrderCreatedJSONResponse: api.OrderCreatedJSONResponse{Body: placed.Body}}
	if placed.Replayed {
		yes := "true"
		resp.Headers.IdempotentReplayed = &yes
	}
	return created{resp}, nil
}

// GetOrder is GET /api/v1/orders/{orderId}.
func (a *API) GetOrder(ctx context.Context, req api.GetOrderRequestObject) (api.GetOrderResponseObject, error) {
	o, err := a.svc.Get(ctx, req.OrderId.String())
	if errors.Is(err, ErrNotFound) {
		p := httpx.NewProblem(http.StatusNotFound, httpx.TypeNotFound, "Order not found",
			"no order has id "+req.OrderId.String())
		return api.GetOrderdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	if err != nil {
		return nil, err
	}
	return api.GetOrder200JSONResponse(toAPI(o)), nil
}

// ListOrders is GET /api/v1/orders.
func (a *API) ListOrders(ctx context.Context, req api.ListOrdersRequestObject) (api.ListOrdersResponseObject, error) {
	f := Filter{Page: 1, Size: 20}
	if p := req.Params; p.CustomerId != nil {
		f.CustomerID = p.CustomerId.String()
	}
	if req.Params.Status != nil {
		f.Status = Status(*req.Params.Status)
	}
	if req.Params.Page != nil {
		f.Page = *req.Params.Page
	}
	if req.Params.Size != nil {
		f.Size = *req.Params.Size
	}
	orders, total, err := a.svc.List(ctx, f)
	if err != nil {
		return nil, err
	}
	page := api.ListOrders200JSONResponse{Items: []api.OrderSummary{}, Page: f.Page, Size: f.Size, Total: total}
	for _, o := range orders {
		page.Items = append(page.Items, api.OrderSummary{
			OrderId: uuid.MustParse(o.ID), CustomerId: uuid.MustParse(o.CustomerID), Status: api.OrderStatus(o.Status),
			FailureReason: optional(o.FailureReason), TotalAmount: o.Total, Currency: o.Currency,
			CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		})
	}
	return page, nil
}

func toAPI(o *Order) api.Order {
	out := api.Order{
		OrderId: uuid.MustParse(o.ID), CustomerId: uuid.MustParse(o.CustomerID), Status: api.OrderStatus(o.Status),
		FailureReason: optional(o.FailureReason), TotalAmount: o.Total, Currency: o.Currency,
		ShippingAddress: api.Address{
			Country: o.Address.Country, City: o.Address.City, AddressLine1: o.Address.AddressLine1,
			AddressLine2: optional(o.Address.AddressLine2), PostalCode: optional(o.Address.PostalCode),
		},
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Items:   make([]api.OrderItem, len(o.Items)),
		History: make([]api.HistoryEntry, len(o.History)),
	}
	for i, it := range o.Items {
		out.Items[i] = api.OrderItem{Sku: it.SKU, Quantity: it.Quantity, UnitPrice: it.UnitPrice,
			LineTotal: lineTotal(it.Quantity, it.UnitPrice)}
	}
	for i, h := range o.History {
		out.History[i] = api.HistoryEntry{Status: api.OrderStatus(h.Status), At: h.At, Reason: optional(h.Reason)}
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CancelOrder is POST /api/v1/orders/{orderId}/cancel.
func (a *API) CancelOrder(ctx context.Context, req api.CancelOrderRequestObject) (api.CancelOrderResponseObject, error) {
	fail := func(p api.Problem) (api.CancelOrderResponseObject, error) {
		return api.CancelOrderdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	key := req.Params.IdempotencyKey
	if key == nil || strings.TrimSpace(*key) == "" || utf8.RuneCountInString(*key) > 255 {
		return fail(httpx.NewProblem(http.StatusBadRequest, httpx.TypeIdempotency, "Idempotency-Key is required",
			"send a unique Idempotency-Key header of at most 255 characters so the request can be retried safely"))
	}
	answer, err := a.svc.Cancel(ctx, req.OrderId.String(), *key)
	switch {
	case errors.Is(err, ErrNotFound):
		return fail(httpx.NewProblem(http.StatusNotFound, httpx.TypeNotFound, "Order not found",
			"no order has id "+req.OrderId.String()))
	case errors.Is(err, ErrTerminal):
		return fail(httpx.NewProblem(http.StatusConflict, httpx.TypeConflict, "The order has already ended",
			"only an order that has not reached COMPLETED, FAILED or CANCELLED can be cancelled"))
	case errors.Is(err, ErrKeyReused):
		return fail(httpx.NewProblem(http.StatusUnprocessableEntity, httpx.TypeKeyReused, "Idempotency-Key reused", err.Error()))
	case err != nil:
		return nil, err
	}
	resp := api.CancelOrder202JSONResponse{Body: answer.Body}
	if answer.Replayed {
		yes := "true"
		resp.Headers.IdempotentReplayed = &yes
	}
	return resp, nil
}
