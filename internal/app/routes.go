package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/swaggest/swgui/v5emb"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/tracing"
)

// The operations of the API, grouped by the service that implements them. A process serves the
// groups of the services it runs; notServedHere answers the others' operations with 404.
type (
	orderOperations interface {
		CreateOrder(context.Context, api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error)
		CreateOrderExternal(context.Context, api.CreateOrderExternalRequestObject) (api.CreateOrderExternalResponseObject, error)
		GetOrder(context.Context, api.GetOrderRequestObject) (api.GetOrderResponseObject, error)
		ListOrders(context.Context, api.ListOrdersRequestObject) (api.ListOrdersResponseObject, error)
		CountOrders(context.Context, api.CountOrdersRequestObject) (api.CountOrdersResponseObject, error)
		CancelOrder(context.Context, api.CancelOrderRequestObject) (api.CancelOrderResponseObject, error)
	}
	inventoryOperations interface {
		ListInventory(context.Context, api.ListInventoryRequestObject) (api.ListInventoryResponseObject, error)
		GetStock(context.Context, api.GetStockRequestObject) (api.GetStockResponseObject, error)
		SetStock(context.Context, api.SetStockRequestObject) (api.SetStockResponseObject, error)
		ListReservations(context.Context, api.ListReservationsRequestObject) (api.ListReservationsResponseObject, error)
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
	webhookOperations interface {
		CreateWebhook(context.Context, api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error)
		ListWebhooks(context.Context, api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error)
		GetWebhook(context.Context, api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error)
		DeleteWebhook(context.Context, api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error)
		RotateWebhookSecret(context.Context, api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error)
		ListWebhookDeliveries(context.Context, api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error)
		ResendWebhookDelivery(context.Context, api.ResendWebhookDeliveryRequestObject) (api.ResendWebhookDeliveryResponseObject, error)
	}
)

// server is the whole REST API: every service's operations, the operator's and the probes.
type server struct {
	orderOperations
	inventoryOperations
	paymentOperations
	fulfillmentOperations
	notificationOperations
	webhookOperations
	admin
	*httpx.Health
	// notServed are the operation IDs of the groups that are nil.
	notServed []string
}

// newServer is the API of the groups that the values in ops implement (each service's API value
// implements its group). Adding a group here, and to server, is all a new service's operations need.
func newServer(ops []any, adm admin, health *httpx.Health) server {
	srv := server{admin: adm, Health: health}
	srv.notServed = slices.Concat(
		adopt(&srv.orderOperations, ops),
		adopt(&srv.inventoryOperations, ops),
		adopt(&srv.paymentOperations, ops),
		adopt(&srv.fulfillmentOperations, ops),
		adopt(&srv.notificationOperations, ops),
		adopt(&srv.webhookOperations, ops),
	)
	return srv
}

// adopt sets *group to the value in ops that implements G. When none does, it returns G's
// operations: its method names, which are the operation IDs the generated code passes middleware.
func adopt[G any](group *G, ops []any) []string {
	for _, op := range ops {
		if g, ok := op.(G); ok {
			*group = g
			return nil
		}
	}
	var ids []string
	for m := range reflect.TypeFor[G]().Methods() {
		ids = append(ids, m.Name)
	}
	return ids
}

// routeOptions are what a process adds to its API: a log line per request, its metrics.
type routeOptions struct {
	accessLog bool
	metrics   *metrics.Metrics
	// metricsElsewhere: --metrics-addr serves them on a listener of their own.
	metricsElsewhere bool
	// verifier checks bearer tokens (nil: --auth none, every caller is auth.Anyone).
	verifier *auth.Verifier
	// rateLimit is per caller: its token's subject, else its address.
	rateLimit httpx.RateLimit
	// console is the operations console, served at /ui/ (nil: none). It is not an API operation,
	// so it needs no token; the data it shows comes from API calls that carry the caller's.
	console http.Handler
}

// routes is the HTTP surface of ordersys, all of it.
func routes(srv server, log *slog.Logger, o routeOptions) (http.Handler, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI spec: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI spec: %w", err)
	}

	middleware := []api.StrictMiddlewareFunc{notServedHere(srv.notServed)}
	strict := api.NewStrictHandlerWithOptions(srv, middleware, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			httpx.WriteProblem(w, httpx.NewProblem(http.StatusBadRequest, httpx.TypeMalformed, "The request could not be read", err.Error()))
		},
		// Handlers return their failures as errors; this is where each becomes its answer.
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			if p := httpx.WriteError(w, err); p.Status >= http.StatusInternalServerError {
				log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", p.Status, "err", err)
			}
		},
	})
	apiMux := http.NewServeMux()
	api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: apiMux,
		// Parameters the validator let through but the generated code cannot parse.
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			httpx.WriteProblem(w, httpx.ProblemFor(errs.Invalid(errs.FieldError{Field: paramName(err), Message: err.Error()})))
		},
	})

	required := operationScopes(spec)
	authn := &auth.Authenticator{Verifier: o.verifier, Required: required, Route: routeIn}
	caller := func(r *http.Request) string {
		if _, secured := required[r.Method+" "+routeIn(r)]; !secured {
			return "" // the probes are never limited
		}
		if p := auth.FromContext(r.Context()); p.Subject != "" {
			return "sub:" + p.Subject
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return "addr:" + host
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", authn.Middleware(o.rateLimit.Limit(caller,
		httpx.LimitBody(httpx.Validator(spec, bodyChecks)(apiMux)))))
	mux.HandleFunc("GET /docs.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(specJSON)
	})
	// The event contract, beside the HTTP one; more specific than "/docs/", so Swagger UI leaves it.
	mux.HandleFunc("GET /docs/asyncapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.AsyncAPI)
	})
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	mux.Handle("GET /docs/", v5emb.New("ordersys API", "/docs.json", "/docs/"))
	if o.metrics != nil && !o.metricsElsewhere {
		mux.Handle("GET /metrics", o.metrics.Handler())
	}
	if o.console != nil {
		mux.Handle("/ui/", o.console)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, httpx.ProblemFor(errs.New(errs.ENOTFOUND, "Not found",
			"nothing at "+r.URL.Path+"; the API is under /api and documented at /docs")))
	})
	var h http.Handler = httpx.Recover(log, mux)
	h = traced(h)
	if o.metrics != nil {
		h = httpx.Observe(h, func(r *http.Request, status, _ int, took time.Duration) {
			route := routeIn(r)
			o.metrics.HTTPAnswered(serviceOf(route), route, r.Method, status, took)
		})
	}
	if o.accessLog {
		h = httpx.AccessLog(log, h)
	}
	return routed(mux, apiMux, h), nil
}

// bodyChecks are the handlers' own checks of a body, run when its schema refuses it so that one
// answer names every bad field; they need no service, so every process runs them.
var bodyChecks = httpx.BodyChecks{
	"CreateOrder":         order.CheckCreateBody,
	"CreateOrderExternal": order.CheckCreateBody,
}

// operationScopes is what each operation of spec asks of its caller: its security requirements,
// the alternatives of scopes, by "METHOD /route/template". `security: []` makes one public.
func operationScopes(spec *openapi3.T) auth.Requirements {
	required := auth.Requirements{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			security := op.Security
			if security == nil {
				security = &spec.Security
			}
			var alternatives [][]string
			for _, requirement := range *security {
				for _, scopes := range requirement {
					alternatives = append(alternatives, scopes)
				}
			}
			if len(alternatives) > 0 {
				required[method+" "+path] = alternatives
			}
		}
	}
	return required
}

// routeKey is where routed keeps a request's route template in its context.
type routeKey struct{}

// routed finds the route template of each request once, for the span and the metrics that name it.
func routed(mux, apiMux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, routeOf(mux, apiMux, r))))
	})
}

// routeIn is the route template routed found for r.
func routeIn(r *http.Request) string {
	route, _ := r.Context().Value(routeKey{}).(string)
	return route
}

// traced continues the caller's trace (a W3C traceparent header), or starts one, in a span per
// request named by its route, and answers with the trace context: the create's answer names the
// trace an operator finds the order under.
func traced(next http.Handler) http.Handler {
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		span.SetAttributes(semconv.HTTPRoute(routeIn(r)))
		if traceparent, tracestate := tracing.Inject(r.Context()); traceparent != "" {
			w.Header().Set("traceparent", traceparent)
			if tracestate != "" {
				w.Header().Set("tracestate", tracestate)
			}
		}
		next.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(answer, "http",
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + routeIn(r) }))
}

// routeOf is the template of the route that answers r ("GET /api/v1/orders/{orderId}" is
// "/api/v1/orders/{orderId}"), never its path: ids in a metric's labels would make a series per
// order.
func routeOf(mux, apiMux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if pattern == "/api/" {
		_, pattern = apiMux.Handler(r)
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	return pattern
}

// serviceOf is the service whose operations a route belongs to ("ordersys" for the process's own:
// probes, docs, metrics, the operator's API).
func serviceOf(route string) string {
	for _, o := range routeOwners {
		if strings.HasPrefix(route, o.prefix) {
			return o.service
		}
	}
	return "ordersys"
}

// routeOwners are the route prefixes of each service's operations.
var routeOwners = []struct{ prefix, service string }{
	{"/api/v1/orders", order.Name}, {"/api/v1/inventory", inventory.Name}, {"/api/v1/reservations", inventory.Name},
	{"/api/v1/payments", payment.Name},
	{"/api/v1/shipments", fulfillment.Name}, {"/api/v1/notifications", notification.Name},
	{"/api/v1/webhooks", notification.Name},
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

// errNotServed answers an operation of a service this process does not run.
var errNotServed = errs.New(errs.ENOTFOUND, "Not served here",
	"this process does not run the service that answers this; send the request to one that does")

// notServedHere answers the operations ops (IDs) with errNotServed, before the nil group that
// would implement them is called.
func notServedHere(ops []string) api.StrictMiddlewareFunc {
	return func(next api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
		if !slices.Contains(ops, operationID) {
			return next
		}
		return func(context.Context, http.ResponseWriter, *http.Request, any) (any, error) {
			return nil, errNotServed
		}
	}
}
