package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/httpx"
)

// stockOnly is the inventory group alone, as a process running only inventory has it.
type stockOnly struct{}

func (stockOnly) ListInventory(context.Context, api.ListInventoryRequestObject) (api.ListInventoryResponseObject, error) {
	return api.ListInventory200JSONResponse{Items: []api.StockLevel{}}, nil
}

func (stockOnly) GetStock(context.Context, api.GetStockRequestObject) (api.GetStockResponseObject, error) {
	return nil, errs.New(errs.ENOTFOUND, "SKU not found", "no stock is kept for SKU \"X\"")
}

func (stockOnly) SetStock(context.Context, api.SetStockRequestObject) (api.SetStockResponseObject, error) {
	return nil, errs.New(errs.ECONFLICT, "", "")
}

func (stockOnly) ListReservations(context.Context, api.ListReservationsRequestObject) (api.ListReservationsResponseObject, error) {
	return api.ListReservations200JSONResponse{Items: []api.Reservation{}}, nil
}

// TestNotServedHere: the operations of the services a process does not run answer 404 "Not
// served here"; those it runs are answered, their errors as problems.
func TestNotServedHere(t *testing.T) {
	if got := len(newServer(nil, admin{}, &httpx.Health{}).notServed); got != 20 {
		t.Errorf("a server of no service lacks %d operations, want all 20", got)
	}
	h, err := routes(newServer([]any{stockOnly{}}, admin{}, &httpx.Health{}), testLogger(), routeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		title              string
	}{
		{http.MethodPost, "/api/v1/orders/create", quickStart, 404, "Not served here"},
		{http.MethodPost, "/api/external/v1/orders/create", quickStart, 404, "Not served here"},
		{http.MethodGet, "/api/v1/orders", "", 404, "Not served here"},
		{http.MethodGet, "/api/v1/orders/counts", "", 404, "Not served here"},
		{http.MethodGet, "/api/v1/payments?orderId=67993c38-8059-4d8b-8567-1542560584ee", "", 404, "Not served here"},
		{http.MethodGet, "/api/v1/inventory", "", 200, ""},
		{http.MethodGet, "/api/v1/inventory/X", "", 404, "SKU not found"},
		{http.MethodPut, "/api/v1/inventory/X", `{"available":1}`, 409, "Conflict"},
		{http.MethodGet, "/api/v1/reservations?orderId=67993c38-8059-4d8b-8567-1542560584ee", "", 200, ""},
		{http.MethodGet, "/nowhere", "", 404, "Not found"},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "k-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var p api.Problem
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		if w.Code != c.status || p.Title != c.title {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, w.Code, w.Body, c.status, c.title)
		}
		if c.status == 404 && (p.Type != httpx.TypeNotFound || w.Header().Get("Content-Type") != "application/problem+json") {
			t.Errorf("%s %s: type %q, content type %q", c.method, c.path, p.Type, w.Header().Get("Content-Type"))
		}
	}
}

// TestBodyChecksNameOperations: every key of bodyChecks is an operation id of the embedded
// document, as the validator looks it up; a misspelt key would silently check nothing.
func TestBodyChecksNameOperations(t *testing.T) {
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			ids[op.OperationID] = true
		}
	}
	for id := range bodyChecks {
		if !ids[id] {
			t.Errorf("bodyChecks names %q, which is no operation id of the document", id)
		}
	}
}
