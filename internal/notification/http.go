package notification

import (
	"context"
	"fmt"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
)

// API implements the notification operations of the REST API on top of the service.
type API struct{ svc *Service }

// NewAPI returns the notification API of svc.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// ListNotifications is GET /api/v1/notifications?orderId=: the messages sent about the order,
// oldest first. An order that has not ended (or is unknown here) has an empty list, and so, for a
// customer, has another customer's order: the answer says nothing of whose it is.
func (a *API) ListNotifications(ctx context.Context, req api.ListNotificationsRequestObject) (api.ListNotificationsResponseObject, error) {
	customer, limited := auth.FromContext(ctx).Customer()
	if limited && customer == "" {
		return api.ListNotifications200JSONResponse{Items: []api.Notification{}}, nil // nobody sees nothing (fail closed)
	}
	notes, err := a.svc.NotificationsFor(ctx, req.Params.OrderId.String(), customer)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	items := make([]api.Notification, 0, len(notes))
	for _, n := range notes {
		items = append(items, api.Notification{NotificationId: n.ID, OrderId: req.Params.OrderId,
			Kind: api.NotificationKind(n.Kind), Recipient: n.Recipient, Message: n.Message, CreatedAt: n.CreatedAt.UTC()})
	}
	return api.ListNotifications200JSONResponse{Items: items}, nil
}
