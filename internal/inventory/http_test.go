package inventory_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/inventory"
)

func testAPI(t *testing.T, e *env) {
	ctx := t.Context()
	a := inventory.NewAPI(e.svc)

	set := func(sku, available string) api.SetStockResponseObject {
		t.Helper()
		resp, err := a.SetStock(ctx, api.SetStockRequestObject{Sku: sku, Body: &api.SetStockRequest{Available: d(available)}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	get := func(sku string) api.GetStockResponseObject {
		t.Helper()
		resp, err := a.GetStock(ctx, api.GetStockRequestObject{Sku: sku})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// An empty inventory lists as an empty array.
	list, err := a.ListInventory(ctx, api.ListInventoryRequestObject{})
	if err != nil {
		t.Fatal(err)
	}
	if body := visit(t, list.VisitListInventoryResponse, http.StatusOK); body != `{"items":[],"page":1,"size":20,"total":0}` {
		t.Errorf("empty list = %s", body)
	}

	// PUT creates, and answers the level.
	created, ok := set("SKU-2", "50").(api.SetStock200JSONResponse)
	if !ok || created.Sku != "SKU-2" || !created.Available.Equal(d("50")) || !created.Reserved.IsZero() {
		t.Fatalf("set SKU-2 = %#v", created)
	}
	set("SKU-10", "0")
	set("SKU-1", "100.125")

	// 14.5 reserved reads back as exactly 14.5.
	e.reserve(t, uuid.NewString(), line("SKU-2", "14.5"))
	level, ok := get("SKU-2").(api.GetStock200JSONResponse)
	if !ok {
		t.Fatalf("get SKU-2 = %#v", get("SKU-2"))
	}
	if body := visit(t, level.VisitGetStockResponse, http.StatusOK); body != `{"available":35.5,"reserved":14.5,"sku":"SKU-2"}` {
		t.Errorf("GET SKU-2 body = %s", body)
	}

	// PUT sets available only; what reservations hold stays.
	updated, ok := set("SKU-2", "7.25").(api.SetStock200JSONResponse)
	if !ok || !updated.Available.Equal(d("7.25")) || !updated.Reserved.Equal(d("14.5")) {
		t.Errorf("set SKU-2 again = %#v", updated)
	}
	e.level(t, "SKU-2", "7.25", "14.5")

	// The list is sorted by SKU (byte order).
	list, err = a.ListInventory(ctx, api.ListInventoryRequestObject{})
	if err != nil {
		t.Fatal(err)
	}
	items := list.(api.ListInventory200JSONResponse).Items
	var skus []string
	for _, it := range items {
		skus = append(skus, it.Sku)
	}
	if strings.Join(skus, ",") != "SKU-1,SKU-10,SKU-2" {
		t.Errorf("list order %v", skus)
	}
	if !items[0].Available.Equal(d("100.125")) {
		t.Errorf("SKU-1 available %s, want 100.125", items[0].Available)
	}
	// A page of two: the page asked for, its size and the total of every page.
	two, size := 2, 2
	list, err = a.ListInventory(ctx, api.ListInventoryRequestObject{Params: api.ListInventoryParams{Page: &two, Size: &size}})
	if err != nil {
		t.Fatal(err)
	}
	if body := visit(t, list.VisitListInventoryResponse, http.StatusOK); body !=
		`{"items":[{"available":7.25,"reserved":14.5,"sku":"SKU-2"}],"page":2,"size":2,"total":3}` {
		t.Errorf("page 2 of size 2 = %s", body)
	}

	// Unknown SKU: 404 problem.
	resp := get("NOPE")
	notFound, ok := resp.(api.GetStockdefaultApplicationProblemPlusJSONResponse)
	if !ok || notFound.StatusCode != http.StatusNotFound || notFound.Body.Type != httpx.TypeNotFound {
		t.Errorf("get NOPE = %#v", resp)
	}
	visit(t, resp.VisitGetStockResponse, http.StatusNotFound)

	// More than 3 fraction digits, or negative: 400 naming the field, nothing changed.
	for _, bad := range []string{"1.2345", "-1", "0.0001", "1000000000000.001"} {
		resp := set("SKU-1", bad)
		p, ok := resp.(api.SetStockdefaultApplicationProblemPlusJSONResponse)
		if !ok || p.StatusCode != http.StatusBadRequest || p.Body.Type != httpx.TypeValidation ||
			p.Body.Errors == nil || len(*p.Body.Errors) != 1 || (*p.Body.Errors)[0].Field != "available" {
			t.Errorf("set %s = %#v, want a 400 on available", bad, resp)
		}
	}
	// Written with 4 digits but meaning 3: fine.
	if _, ok := set("SKU-1", "1.2340").(api.SetStock200JSONResponse); !ok {
		t.Error("1.2340 refused")
	}
	e.level(t, "SKU-1", "1.234", "0")
	resp2, err := a.SetStock(ctx, api.SetStockRequestObject{Sku: "SKU-1"})
	if p, ok := resp2.(api.SetStockdefaultApplicationProblemPlusJSONResponse); err != nil || !ok || p.StatusCode != http.StatusBadRequest {
		t.Errorf("set without a body = %#v, %v", resp2, err)
	}
}

// visit writes a response as the server would and returns its body without the newline.
func visit(t *testing.T, fn func(http.ResponseWriter) error, status int) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := fn(rec); err != nil {
		t.Fatal(err)
	}
	if rec.Code != status {
		t.Errorf("status %d, want %d", rec.Code, status)
	}
	if status >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("content type %q", rec.Header().Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Errorf("body %q: %v", rec.Body.String(), err)
	}
	return strings.TrimSpace(rec.Body.String())
}
