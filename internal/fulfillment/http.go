package fulfillment

import (
	"context"
	"fmt"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
)

// API implements the fulfillment operations of the REST API on top of the service.
type API struct{ svc *Service }

// NewAPI returns the fulfillment API of svc.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// ListShipments is GET /api/v1/shipments?orderId=: the order's shipments, oldest first. An order
// not shipped (yet, or because it cannot be) has an empty list, and so, for a customer, has
// another customer's order: the answer says nothing of whose it is.
func (a *API) ListShipments(ctx context.Context, req api.ListShipmentsRequestObject) (api.ListShipmentsResponseObject, error) {
	customer, limited := auth.FromContext(ctx).Customer()
	if limited && customer == "" {
		return api.ListShipments200JSONResponse{Items: []api.Shipment{}}, nil // nobody sees nothing (fail closed)
	}
	shipments, err := a.svc.ShipmentsFor(ctx, req.Params.OrderId.String(), customer)
	if err != nil {
		return nil, fmt.Errorf("list shipments: %w", err)
	}
	items := make([]api.Shipment, 0, len(shipments))
	for _, s := range shipments {
		items = append(items, api.Shipment{ShipmentId: s.ID, OrderId: req.Params.OrderId, Carrier: s.Carrier,
			TrackingNumber: s.TrackingNumber, Country: s.Country, CreatedAt: s.CreatedAt.UTC()})
	}
	return api.ListShipments200JSONResponse{Items: items}, nil
}
