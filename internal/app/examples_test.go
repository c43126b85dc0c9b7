package app

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/notification"
)

// TestSpecExamplesSucceed executes every operation of the OpenAPI document as Swagger UI's "Try
// it out" would with the document's examples, against a running system, and wants a 2xx answer
// that the document describes. Every parameter and request body must have an example.
//
// The examples are used as given, with one exception: the path parameters that name what the
// server makes, whose examples are placeholders (see placeholders). The test puts there an
// `orderId` that createOrder's example placed; a `webhookId` of a subscription it made to a
// receiver of its own (created before that order, so the order's outcome is delivered to it;
// deleteWebhook runs last); and a `deliveryId` of that delivery, once delivered. Everything else
// an example names is made true first: the SKU is in the demo catalog, and the dead-letter ids are
// those of two malformed messages the test sends to payments.commands (the first replayed, the
// second discarded). An order ends within milliseconds on `dev`, too soon to be cancelled, so
// cancelOrder runs against a second system that has no payment service: there the order the
// create example places waits at PAYMENT.
func TestSpecExamplesSucceed(t *testing.T) {
	spec, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	d := startDevWith(t, DevConfig{Rules: Rules{Webhooks: notification.Config{AllowInsecure: true, AllowPrivate: true}}})
	base := "http://" + d.Addr
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	webhookID, _ := subscribeHook(t, base, receiver.URL)
	waiting := startDevWith(t, DevConfig{Services: []string{"order", "inventory", "fulfillment", "notification"}})

	sendMalformed(t, d.KafkaAddr, 2)
	waitDeadLetters(t, base, 2)

	router, err := gorillamux.NewRouter(specWithoutServers(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"webhookId": webhookID}
	for _, op := range operations(spec) {
		t.Run(op.ID, func(t *testing.T) {
			target, made := base, ids
			switch op.ID {
			case "cancelOrder":
				target = "http://" + waiting.Addr
				made = map[string]string{"orderId": exampleCall(t, spec, "createOrder").do(t, target, nil, nil).json(t)["orderId"].(string)}
			case "resendWebhookDelivery":
				ids["deliveryId"] = deliveredTo(t, base, webhookID)
			}
			c := exampleCall(t, spec, op.ID)
			r := c.do(t, target, made, func(req *http.Request, resp *http.Response, body []byte) {
				validateAnswer(t, router, req, resp, body)
			})
			if r.status < 200 || r.status > 299 {
				t.Fatalf("%s %s with its examples: %d %s", c.method, c.path, r.status, r.body)
			}
			if op.ID == "createOrder" {
				ids["orderId"] = r.json(t)["orderId"].(string)
			}
		})
	}
}

// placeholders are the path parameters whose examples stand for ids the server makes.
var placeholders = []string{"orderId", "webhookId", "deliveryId"}

// deliveredTo is the id of a delivery of the subscription that has been delivered.
func deliveredTo(t *testing.T, base, webhookID string) string {
	t.Helper()
	var id string
	pollGET(t, base+"/api/v1/webhooks/"+webhookID+"/deliveries", 30*time.Second, func(page map[string]any) (bool, string) {
		for _, d := range page["items"].([]any) {
			if d := d.(map[string]any); d["state"] == "DELIVERED" {
				id = d["deliveryId"].(string)
				return true, ""
			}
		}
		return false, fmt.Sprintf("deliveries %v", page["items"])
	})
	return id
}

// operation is one operation of the document.
type operation struct{ ID, Method, Path string }

// operations are the document's operations, the creates first (the others read what they
// placed), then by id.
func operations(spec *openapi3.T) []operation {
	var out []operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			out = append(out, operation{strings.ToLower(op.OperationID[:1]) + op.OperationID[1:], method, path})
		}
	}
	slices.SortFunc(out, func(a, b operation) int {
		return cmp.Or(cmp.Compare(rank(a.ID), rank(b.ID)), strings.Compare(a.ID, b.ID))
	})
	return out
}

func rank(id string) int {
	switch {
	case strings.HasPrefix(id, "createOrder"):
		return 0
	case id == "deleteWebhook":
		return 2
	}
	return 1
}

// exampleRequest is an operation's request as its examples make it.
type exampleRequest struct {
	method, path string // path with its placeholders left to fill
	query        url.Values
	header       http.Header
	body         []byte
}

// exampleCall builds the request of the operation id from the document's examples, failing the
// test for a parameter or body that has none.
func exampleCall(t *testing.T, spec *openapi3.T, id string) exampleRequest {
	t.Helper()
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if !strings.EqualFold(op.OperationID, id) {
				continue
			}
			c := exampleRequest{method: method, path: path, query: url.Values{}, header: http.Header{}}
			for _, p := range slices.Concat(item.Parameters, op.Parameters) {
				v := p.Value
				if v.Example == nil {
					t.Errorf("%s: parameter %s (%s) has no example", id, v.Name, v.In)
					continue
				}
				s := fmt.Sprint(v.Example)
				switch v.In {
				case openapi3.ParameterInPath:
					if !slices.Contains(placeholders, v.Name) { // see TestSpecExamplesSucceed
						c.path = strings.ReplaceAll(c.path, "{"+v.Name+"}", url.PathEscape(s))
					}
				case openapi3.ParameterInQuery:
					c.query.Set(v.Name, s)
				case openapi3.ParameterInHeader:
					c.header.Set(v.Name, s)
				}
			}
			if op.RequestBody != nil {
				mt := op.RequestBody.Value.Content.Get("application/json")
				if mt == nil || mt.Example == nil {
					t.Fatalf("%s: its request body has no application/json example", id)
				}
				b, err := json.Marshal(mt.Example)
				if err != nil {
					t.Fatal(err)
				}
				c.body = b
				c.header.Set("Content-Type", "application/json")
			}
			return c
		}
	}
	t.Fatalf("no operation %s", id)
	return exampleRequest{}
}

// do sends the request to base, the ids in place of their placeholders, and hands what it sent
// and what came back to check (if any).
func (c exampleRequest) do(t *testing.T, base string, ids map[string]string, check func(*http.Request, *http.Response, []byte)) response {
	t.Helper()
	u := base + c.path
	for name, id := range ids {
		u = strings.ReplaceAll(u, "{"+name+"}", id)
	}
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	req, err := http.NewRequest(c.method, u, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if check != nil {
		check(req, resp, b)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// validateAnswer checks an answer against what the document says of the operation's answers.
func validateAnswer(t *testing.T, router routers.Router, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("route %s %s: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		t.Errorf("%s %s answered what the document does not describe: %v\n%s", req.Method, req.URL.Path, err, body)
	}
}

// specWithoutServers is spec routed by path alone, whatever address the test's server has.
func specWithoutServers(t *testing.T, spec *openapi3.T) *openapi3.T {
	t.Helper()
	s := *spec
	s.Servers = nil
	return &s
}
