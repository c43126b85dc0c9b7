package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/swaggest/swgui/v5emb"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
)

// The operations of the API, grouped by the service that implements them. A process serves the
// groups of the services it runs; the others answer 404 (notServedHere).
type (
	orderOperations interface {
		CreateOrder(context.Context, api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error)
		CreateOrderExternal(context.Context, api.CreateOrderExternalRequestObject) (api.CreateOrderExternalResponseObject, error)
		GetOrder(context.Context, api.GetOrderRequestObject) (api.GetOrderResponseObject, error)
		ListOrders(context.Context, api.ListOrdersRequestObject) (api.ListOrdersResponseObject, error)
		CancelOrder(context.Context, api.CancelOrderRequestObject) (api.CancelOrderResponseObject, error)
	}
	inventoryOperations interface {
		ListInventory(context.Context, api.ListInventoryRequestObject) (api.ListInventoryResponseObject, error)
		GetStock(context.Context, api.GetStockRequestObject) (api.GetStockResponseObject, error)
		SetStock(context.Context, api.SetStockRequestObject) (api.SetStockResponseObject, error)
	}
	paymentOperations interface {
		ListPayments(context.Context, api.ListPaymentsRequestObject) (api.ListPaymentsResponseObject, error)
	}
	fulfillmentOperations interface {
		ListShipments(context.Context, api.ListShipmentsRequestObject) (api.ListShipmentsResponseObject, error)
	}
	notificationOperations interface {
		ListNotifications(context.Context, api.ListNotificationsRequestObject) (api.ListNotificationsResponseObject, error)
	}
)

// server is the whole REST API: every service's operations, the operator's and the probes.
type server struct {
	orderOperations
	inventoryOperations
	paymentOperations
	fulfillmentOperations
	notificationOperations
	admin
	*httpx.Health
}

// routes is the HTTP surface of ordersys, all of it.
func routes(srv server, log *slog.Logger) (http.Handler, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI spec: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI spec: %w", err)
	}

	strict := api.NewStrictHandlerWithOptions(srv, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			httpx.WriteProblem(w, httpx.NewProblem(http.StatusBadRequest, httpx.TypeMalformed, "The request could not be read", err.Error()))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			httpx.WriteProblem(w, httpx.NewProblem(http.StatusInternalServerError, httpx.TypeInternal, "Internal error",
				"the request could not be completed; it is safe to retry with the same Idempotency-Key"))
		},
	})
	apiMux := http.NewServeMux()
	api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: apiMux,
		// Parameters the validator let through but the generated code cannot parse.
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			httpx.WriteProblem(w, httpx.ValidationProblem([]api.FieldError{{Field: paramName(err), Message: err.Error()}}))
		},
	})

	mux := http.NewServeMux()
	mux.Handle("/api/", httpx.LimitBody(httpx.Validator(spec)(apiMux)))
	mux.HandleFunc("GET /docs.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(specJSON)
	})
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	mux.Handle("GET /docs/", v5emb.New("ordersys API", "/docs.json", "/docs/"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, httpx.NewProblem(http.StatusNotFound, httpx.TypeNotFound, "Not found",
			"nothing at "+r.URL.Path+"; the API is under /api and documented at /docs"))
	})
	return httpx.Recover(log, mux), nil
}

// paramName names the parameter a generated-code binding error is about.
func paramName(err error) string {
	var invalid *api.InvalidParamFormatError
	if errors.As(err, &invalid) {
		return invalid.ParamName
	}
	var required *api.RequiredParamError
	if errors.As(err, &required) {
		return required.ParamName
	}
	return ""
}

// notServedHere stands in for the operations of services this process does not run.
type notServedHere struct{}

func elsewhere() api.Problem {
	return httpx.NewProblem(http.StatusNotFound, httpx.TypeNotFound, "Not served here",
		"this process does not run the service that answers this; send the request to one that does")
}

func (notServedHere) CreateOrder(context.Context, api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error) {
	return api.CreateOrderdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) CreateOrderExternal(context.Context, api.CreateOrderExternalRequestObject) (api.CreateOrderExternalResponseObject, error) {
	return api.CreateOrderExternaldefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) GetOrder(context.Context, api.GetOrderRequestObject) (api.GetOrderResponseObject, error) {
	return api.GetOrderdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) ListOrders(context.Context, api.ListOrdersRequestObject) (api.ListOrdersResponseObject, error) {
	return api.ListOrdersdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) CancelOrder(context.Context, api.CancelOrderRequestObject) (api.CancelOrderResponseObject, error) {
	return api.CancelOrderdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) ListInventory(context.Context, api.ListInventoryRequestObject) (api.ListInventoryResponseObject, error) {
	return api.ListInventorydefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) GetStock(context.Context, api.GetStockRequestObject) (api.GetStockResponseObject, error) {
	return api.GetStockdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) SetStock(context.Context, api.SetStockRequestObject) (api.SetStockResponseObject, error) {
	return api.SetStockdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) ListPayments(context.Context, api.ListPaymentsRequestObject) (api.ListPaymentsResponseObject, error) {
	return api.ListPaymentsdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) ListShipments(context.Context, api.ListShipmentsRequestObject) (api.ListShipmentsResponseObject, error) {
	return api.ListShipmentsdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}

func (notServedHere) ListNotifications(context.Context, api.ListNotificationsRequestObject) (api.ListNotificationsResponseObject, error) {
	return api.ListNotificationsdefaultApplicationProblemPlusJSONResponse{Body: elsewhere(), StatusCode: http.StatusNotFound}, nil
}
