package notification

import (
	"context"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
)

// CreateWebhook is POST /api/v1/webhooks: the subscription, with its secret shown this once.
func (a *API) CreateWebhook(ctx context.Context, req api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error) {
	n := NewWebhook{URL: req.Body.Url}
	for _, e := range req.Body.Events {
		n.Events = append(n.Events, string(e))
	}
	if req.Body.Description != nil {
		n.Description = *req.Body.Description
	}
	w, err := a.svc.Subscribe(ctx, n)
	if err != nil {
		return nil, err
	}
	shown := webhookAPI(w)
	location := "/api/v1/webhooks/" + w.ID
	return api.CreateWebhook201JSONResponse{
		Body: api.WebhookWithSecret{WebhookId: shown.WebhookId, Url: shown.Url, Events: shown.Events,
			Description: shown.Description, CreatedAt: shown.CreatedAt, Enabled: shown.Enabled, Secret: w.Secret},
		Headers: api.CreateWebhook201ResponseHeaders{Location: &location},
	}, nil
}

// ListWebhooks is GET /api/v1/webhooks.
func (a *API) ListWebhooks(ctx context.Context, req api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error) {
	page, size := httpx.Paging(req.Params.Page, req.Params.Size)
	list, total, err := a.svc.Webhooks(ctx, page, size)
	if err != nil {
		return nil, err
	}
	out := api.ListWebhooks200JSONResponse{Items: make([]api.Webhook, 0, len(list)), Page: page, Size: size, Total: total}
	for _, w := range list {
		out.Items = append(out.Items, webhookAPI(w))
	}
	return out, nil
}

// GetWebhook is GET /api/v1/webhooks/{webhookId}.
func (a *API) GetWebhook(ctx context.Context, req api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error) {
	w, err := a.svc.Webhook(ctx, req.WebhookId.String())
	if err != nil {
		return nil, err
	}
	return api.GetWebhook200JSONResponse(webhookAPI(w)), nil
}

// DeleteWebhook is DELETE /api/v1/webhooks/{webhookId}.
func (a *API) DeleteWebhook(ctx context.Context, req api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error) {
	if err := a.svc.Unsubscribe(ctx, req.WebhookId.String()); err != nil {
		return nil, err
	}
	return api.DeleteWebhook204Response{}, nil
}

// RotateWebhookSecret is POST /api/v1/webhooks/{webhookId}/rotate-secret.
func (a *API) RotateWebhookSecret(ctx context.Context, req api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error) {
	secret, until, err := a.svc.RotateSecret(ctx, req.WebhookId.String())
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookSecret200JSONResponse{Secret: secret, PreviousSecretValidUntil: until}, nil
}

// ListWebhookDeliveries is GET /api/v1/webhooks/{webhookId}/deliveries.
func (a *API) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	page, size := httpx.Paging(req.Params.Page, req.Params.Size)
	list, total, err := a.svc.Deliveries(ctx, req.WebhookId.String(), page, size)
	if err != nil {
		return nil, err
	}
	out := api.ListWebhookDeliveries200JSONResponse{Items: make([]api.WebhookDelivery, 0, len(list)), Page: page, Size: size, Total: total}
	for _, d := range list {
		out.Items = append(out.Items, deliveryAPI(d))
	}
	return out, nil
}

// ResendWebhookDelivery is POST /api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/resend.
func (a *API) ResendWebhookDelivery(ctx context.Context, req api.ResendWebhookDeliveryRequestObject) (api.ResendWebhookDeliveryResponseObject, error) {
	d, err := a.svc.Resend(ctx, req.WebhookId.String(), req.DeliveryId.String())
	if err != nil {
		return nil, err
	}
	return api.ResendWebhookDelivery202JSONResponse(deliveryAPI(d)), nil
}

func webhookAPI(w Webhook) api.Webhook {
	out := api.Webhook{WebhookId: uuid.MustParse(w.ID), Url: w.URL, Description: w.Description,
		CreatedAt: w.CreatedAt, Enabled: w.DisabledAt == nil, DisabledAt: w.DisabledAt, Events: []api.WebhookEvent{}}
	if w.DisabledReason != "" {
		out.DisabledReason = &w.DisabledReason
	}
	for _, e := range w.Events {
		out.Events = append(out.Events, api.WebhookEvent(e))
	}
	return out
}

func deliveryAPI(d Delivery) api.WebhookDelivery {
	out := api.WebhookDelivery{DeliveryId: uuid.MustParse(d.ID), WebhookId: uuid.MustParse(d.SubscriptionID),
		Event: api.WebhookEvent(d.Event), OrderId: uuid.MustParse(d.OrderID), State: api.WebhookDeliveryState(d.State),
		CreatedAt: d.CreatedAt, NextAttemptAt: d.NextAttemptAt, Attempts: []api.WebhookAttempt{}}
	for _, a := range d.Attempts {
		at := api.WebhookAttempt{At: a.At, StatusCode: a.StatusCode, LatencyMs: int(a.Latency.Milliseconds())}
		if a.Error != "" {
			at.Error = &a.Error
		}
		out.Attempts = append(out.Attempts, at)
	}
	return out
}
