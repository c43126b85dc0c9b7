package inventory

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/httpx"
)

// API is the inventory service's part of the REST API: stock levels, read and set, and the
// reservation of an order.
type API struct{ svc *Service }

// NewAPI returns the inventory API of s.
func NewAPI(s *Service) *API { return &API{svc: s} }

func toAPI(l Level) api.StockLevel {
	return api.StockLevel{Sku: l.SKU, Available: l.Available, Reserved: l.Reserved}
}

// ListInventory is GET /api/v1/inventory: a page of the SKUs' levels, sorted by SKU.
func (a *API) ListInventory(ctx context.Context, req api.ListInventoryRequestObject) (api.ListInventoryResponseObject, error) {
	page, size := httpx.Paging(req.Params.Page, req.Params.Size)
	levels, total, err := a.svc.Levels(ctx, page, size)
	if err != nil {
		return nil, err
	}
	out := api.ListInventory200JSONResponse{Items: make([]api.StockLevel, 0, len(levels)), Page: page, Size: size, Total: total}
	for _, l := range levels {
		out.Items = append(out.Items, toAPI(l))
	}
	return out, nil
}

// GetStock is GET /api/v1/inventory/{sku}.
func (a *API) GetStock(ctx context.Context, req api.GetStockRequestObject) (api.GetStockResponseObject, error) {
	l, err := a.svc.Stock(ctx, req.Sku)
	if errors.Is(err, ErrUnknownSKU) {
		// Answered as a typed response, not returned, because callers of the API (its tests)
		// read it; httpx still decides its status and type.
		p := httpx.ProblemFor(errs.New(errs.ENOTFOUND, "SKU not found", fmt.Sprintf("no stock is kept for SKU %q", req.Sku)))
		return api.GetStockdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	if err != nil {
		return nil, err
	}
	return api.GetStock200JSONResponse(toAPI(l)), nil
}

// SetStock is PUT /api/v1/inventory/{sku}: sets what is available (creating the SKU if new) and
// answers the level now. What reservations hold is not changed.
func (a *API) SetStock(ctx context.Context, req api.SetStockRequestObject) (api.SetStockResponseObject, error) {
	bad := func(field, msg string) (api.SetStockResponseObject, error) {
		p := httpx.ProblemFor(errs.Invalid(errs.FieldError{Field: field, Message: msg}))
		return api.SetStockdefaultApplicationProblemPlusJSONResponse{Body: p, StatusCode: p.Status}, nil
	}
	invalid := func(msg string) (api.SetStockResponseObject, error) { return bad("available", msg) }
	if req.Sku == "" {
		return bad("sku", "is required")
	}
	if req.Body == nil {
		return invalid("is required")
	}
	q := req.Body.Available
	switch {
	case q.IsNegative():
		return invalid("must not be negative")
	case !q.Shift(QuantityDigits).IsInteger():
		return invalid(fmt.Sprintf("must have at most %d fraction digits", QuantityDigits))
	case q.GreaterThan(MaxQuantity):
		return invalid("must be at most " + MaxQuantity.String())
	}
	l, err := a.svc.SetAvailable(ctx, req.Sku, q)
	if errors.Is(err, ErrInvalidQuantity) {
		return invalid(err.Error())
	}
	if err != nil {
		return nil, err
	}
	return api.SetStock200JSONResponse(toAPI(l)), nil
}

// ListReservations is GET /api/v1/reservations?orderId=: the order's reservation, for operators.
func (a *API) ListReservations(ctx context.Context, req api.ListReservationsRequestObject) (api.ListReservationsResponseObject, error) {
	reservations, err := a.svc.ReservationsOf(ctx, req.Params.OrderId.String())
	if err != nil {
		return nil, err
	}
	out := api.ListReservations200JSONResponse{Items: make([]api.Reservation, 0, len(reservations))}
	for _, r := range reservations {
		item := api.Reservation{ReservationId: r.ID, OrderId: uuid.MustParse(r.OrderID),
			Status: api.ReservationStatus(r.Status), CreatedAt: r.CreatedAt, Lines: make([]api.ReservationLine, len(r.Lines))}
		if r.RejectedSKU != "" {
			item.RejectedSku, item.RejectReason = &r.RejectedSKU, &r.RejectReason
		}
		for i, l := range r.Lines {
			item.Lines[i] = api.ReservationLine{Sku: l.SKU, Quantity: l.Quantity}
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}
