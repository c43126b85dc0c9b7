package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/tracing"
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

// StopWaiting answers every long poll of GetOrder at once, as the server shuts down.
func (a *API) StopWaiting() { a.svc.StopWaiting() }

// CreateOrder is POST /api/v1/orders/create.
func (a *API) CreateOrder(ctx context.Context, req api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error) {
	return a.create(ctx, req.Params.IdempotencyKey, req.Body)
}

// CreateOrderExternal is POST /api/external/v1/orders/create, the seed's path for the same operation.
func (a *API) CreateOrderExternal(ctx context.Context, req api.CreateOrderExternalRequestObject) (api.CreateOrderExternalResponseObject, error) {
	return a.create(ctx, req.Params.IdempotencyKey, req.Body)
}

func (a *API) create(ctx context.Context, key *string, body *api.CreateOrderRequest) (createResponse, error) {
	if key == nil || strings.TrimSpace(*key) == "" {
		return nil, errs.New(errs.EBADKEY, "Idempotency-Key is required",
			"send a unique Idempotency-Key header (a UUID is a good choice) so the request can be retried safely")
	}
	if utf8.RuneCountInString(*key) > 255 {
		return nil, errs.New(errs.EBADKEY, "Idempotency-Key is too long", "keys are at most 255 characters")
	}
	if !auth.FromContext(ctx).Sees(body.CustomerId.String()) {
		return nil, errs.New(errs.EFORBIDDEN, "Not your customer id",
			"a customer places orders only for itself: customerId must be the subject of its token")
	}
	placed, err := a.svc.Create(ctx, *key, requestFromAPI(body))
	if err != nil {
		return nil, err
	}
	c := placed.Body
	resp := api.CreateOrder201JSONResponse{OrderCreatedJSONResponse: api.OrderCreatedJSONResponse{Body: api.OrderCreated{
		OrderId: c.OrderID, Status: api.OrderStatus(c.Status), TotalAmount: c.TotalAmount, Currency: c.Currency,
		CreatedAt: c.CreatedAt,
	}}}
	// Where the order is read, whichever of the two create paths placed it.
	resp.Headers.Location = "/api/v1/orders/" + c.OrderID.String()
	if placed.Replayed {
		yes := "true"
		resp.Headers.IdempotentReplayed = &yes
	}
	return created{resp}, nil
}

// requestFromAPI is the order a create request asks for.
func requestFromAPI(body *api.CreateOrderRequest) Request {
	a := body.ShippingAddress
	req := Request{CustomerID: body.CustomerId, Currency: body.Currency, Items: make([]Item, len(body.Items)),
		Address: Address{Country: a.Country, City: a.City, AddressLine1: a.AddressLine1,
			AddressLine2: a.AddressLine2, PostalCode: a.PostalCode}}
	for i, it := range body.Items {
		req.Items[i] = Item{SKU: it.Sku, Quantity: it.Quantity, UnitPrice: it.UnitPrice}
	}
	return req
}

// CheckCreateBody runs the checks of validate on a create request's JSON body that its schema
// refused, so that the refusal names these fields too (see httpx.BodyChecks). It reads leniently
// what it can: a field that is missing or not of its type is the schema's to report.
func CheckCreateBody(body []byte) []errs.FieldError {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var fields []errs.FieldError
	var currency string
	var scale int32
	scaled := false
	if json.Unmarshal(req["currency"], &currency) == nil {
		var err error
		if scale, err = events.MinorUnit(currency); err != nil {
			fields = append(fields, errs.FieldError{Field: "currency", Message: err.Error()})
		}
		scaled = err == nil
	}
	var items []json.RawMessage
	_ = json.Unmarshal(req["items"], &items)
	for i, raw := range items {
		var it map[string]json.RawMessage
		if json.Unmarshal(raw, &it) != nil {
			continue
		}
		fields = append(fields, checkItem(i, jsonNumber(it["quantity"]), jsonNumber(it["unitPrice"]), currency, scale, scaled)...)
	}
	return fields
}

// jsonNumber is the exact value of a JSON number, nil if raw is anything else.
func jsonNumber(raw json.RawMessage) *decimal.Decimal {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return nil
	}
	d, err := decimal.NewFromString(n.String())
	if err != nil {
		return nil
	}
	return &d
}

// orderNotFound says which order err does not find: the service's ErrNotFound does not.
func orderNotFound(err error, id uuid.UUID) error {
	if errors.Is(err, ErrNotFound) {
		return errs.New(errs.ENOTFOUND, "Order not found", "no order has id "+id.String())
	}
	return err
}

// GetOrder is GET /api/v1/orders/{orderId}; with waitFor=terminal, a long poll (see Service.Await).
func (a *API) GetOrder(ctx context.Context, req api.GetOrderRequestObject) (api.GetOrderResponseObject, error) {
	timeout, err := waitTimeout(req.Params.Timeout) // checked even without waitFor: it is still wrong
	if err != nil {
		return nil, err
	}
	if req.Params.WaitFor != nil {
		o, ended, err := a.svc.Await(ctx, req.OrderId.String(), timeout)
		if err != nil {
			return nil, orderNotFound(err, req.OrderId)
		}
		wait := "timeout"
		if ended {
			wait = "terminal"
		}
		return api.GetOrder200JSONResponse{Body: toAPI(o), Headers: api.GetOrder200ResponseHeaders{OrderWait: &wait}}, nil
	}
	o, err := a.svc.Get(ctx, req.OrderId.String())
	if err == nil && !auth.FromContext(ctx).Sees(o.CustomerID) {
		err = ErrNotFound // another customer's order is not there, so that ids say nothing
	}
	if err != nil {
		return nil, orderNotFound(err, req.OrderId)
	}
	return api.GetOrder200JSONResponse{Body: toAPI(o)}, nil
}

// waitTimeout is the wait a GET asks for: 30 s by default, at most MaxWait.
func waitTimeout(param *string) (time.Duration, error) {
	if param == nil {
		return 30 * time.Second, nil
	}
	d, err := time.ParseDuration(*param)
	if err != nil || d <= 0 || d > MaxWait {
		return 0, errs.Invalid(errs.FieldError{Field: "timeout",
			Message: fmt.Sprintf("%q is not a duration above zero and at most %s, such as 500ms or 30s", *param, MaxWait)})
	}
	return d, nil
}

// ListOrders is GET /api/v1/orders.
func (a *API) ListOrders(ctx context.Context, req api.ListOrdersRequestObject) (api.ListOrdersResponseObject, error) {
	var f Filter
	f.Page, f.Size = httpx.Paging(req.Params.Page, req.Params.Size)
	if p := req.Params; p.CustomerId != nil {
		f.CustomerID = p.CustomerId.String()
	}
	if only, limited := auth.FromContext(ctx).Customer(); limited {
		if only == "" || (f.CustomerID != "" && f.CustomerID != only) {
			return nil, errs.New(errs.EFORBIDDEN, "Not your orders",
				"a customer lists only its own orders: leave customerId out, or make it the subject of its token")
		}
		f.CustomerID = only
	}
	if req.Params.Status != nil {
		f.Status = Status(*req.Params.Status)
	}
	if req.Params.CreatedBefore != nil {
		f.CreatedBefore = *req.Params.CreatedBefore
	}
	if req.Params.Stuck != nil {
		f.Stuck = *req.Params.Stuck
	}
	if older := req.Params.OlderThan; older != nil { // checked even without stuck: it is still wrong
		d, err := time.ParseDuration(*older)
		if err != nil || d <= 0 {
			return nil, errs.Invalid(errs.FieldError{Field: "olderThan",
				Message: fmt.Sprintf("%q is not a duration above zero, such as 90s, 5m or 1h30m", *older)})
		}
		f.OlderThan = d
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
			CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Step: stepAPI(o.Step),
		})
	}
	return page, nil
}

// CountOrders is GET /api/v1/orders/counts.
func (a *API) CountOrders(ctx context.Context, _ api.CountOrdersRequestObject) (api.CountOrdersResponseObject, error) {
	n, err := a.svc.Counts(ctx)
	if err != nil {
		return nil, err
	}
	return api.CountOrders200JSONResponse{Counts: api.OrderStatusCounts{
		PENDING: n[Pending], PAYMENT: n[Payment], INVENTORY: n[Inventory], FULFILLMENT: n[Fulfillment],
		COMPENSATING: n[Compensating], COMPLETED: n[Completed], FAILED: n[Failed], CANCELLED: n[Cancelled],
	}}, nil
}

// stepAPI is the API's view of a step: the replies it awaits by their names, not their versioned
// ce_types.
func stepAPI(st *Step) *api.OrderStep {
	if st == nil {
		return nil
	}
	out := &api.OrderStep{Attempts: st.Attempts, MaxAttempts: st.MaxAttempts, Deadline: st.Deadline,
		WaitingFor: make([]string, len(st.WaitingFor))}
	for i, t := range st.WaitingFor {
		out.WaitingFor[i] = t.Name()
	}
	return out
}

func toAPI(o *Order) api.Order {
	out := api.Order{
		OrderId: uuid.MustParse(o.ID), CustomerId: uuid.MustParse(o.CustomerID), Status: api.OrderStatus(o.Status),
		FailureReason: optional(o.FailureReason), TotalAmount: o.Total, Currency: o.Currency,
		ShippingAddress: api.Address{
			Country: o.Address.Country, City: o.Address.City, AddressLine1: o.Address.AddressLine1,
			AddressLine2: optional(o.Address.AddressLine2), PostalCode: optional(o.Address.PostalCode),
		},
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, TraceId: optional(tracing.TraceID(o.TraceParent)),
		Step:    stepAPI(o.Step),
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
	key := req.Params.IdempotencyKey
	if key == nil || strings.TrimSpace(*key) == "" || utf8.RuneCountInString(*key) > 255 {
		return nil, errs.New(errs.EBADKEY, "Idempotency-Key is required",
			"send a unique Idempotency-Key header of at most 255 characters so the request can be retried safely")
	}
	if only, limited := auth.FromContext(ctx).Customer(); limited {
		o, err := a.svc.Get(ctx, req.OrderId.String())
		if err == nil && (only == "" || o.CustomerID != only) {
			err = ErrNotFound
		}
		if err != nil {
			return nil, orderNotFound(err, req.OrderId)
		}
	}
	answer, err := a.svc.Cancel(ctx, req.OrderId.String(), *key)
	if err != nil {
		return nil, orderNotFound(err, req.OrderId)
	}
	resp := api.CancelOrder202JSONResponse{Body: api.CancelAccepted{OrderId: answer.Body.OrderID,
		Status: api.OrderStatus(answer.Body.Status)}}
	if answer.Replayed {
		yes := "true"
		resp.Headers.IdempotentReplayed = &yes
	}
	return resp, nil
}
