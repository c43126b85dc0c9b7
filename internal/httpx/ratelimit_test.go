package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/ordersys/ordersys/internal/httpx"
)

// TestRateLimit: each client gets its burst, then 429 with Retry-After and the RateLimit-*
// headers; another client is not held back by the first, and unlimited requests pass.
func TestRateLimit(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := httpx.RateLimit{RPS: 1, Burst: 3}.Limit(func(r *http.Request) string { return r.Header.Get("X-Client") }, ok)
	send := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/orders", nil)
		r.Header.Set("X-Client", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		w := send("a")
		if w.Code != http.StatusNoContent {
			t.Fatalf("request %d of a burst of 3: %d", i+1, w.Code)
		}
		if got, want := w.Header().Get("RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("request %d: RateLimit-Remaining %q, want %q", i+1, got, want)
		}
		if w.Header().Get("RateLimit-Limit") != "3" || w.Header().Get("RateLimit-Policy") != "3;w=3" {
			t.Errorf("request %d: headers %v", i+1, w.Header())
		}
	}
	w := send("a")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" ||
		w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("4th request: %d, Retry-After %q, %q: want 429 after 1s as a problem", w.Code,
			w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	}
	if w := send("b"); w.Code != http.StatusNoContent {
		t.Errorf("another client: %d, want it let through", w.Code)
	}
	for range 10 {
		if w := send(""); w.Code != http.StatusNoContent || w.Header().Get("RateLimit-Limit") != "" {
			t.Fatalf("a request that is not limited: %d, %v", w.Code, w.Header())
		}
	}
	if got := (httpx.RateLimit{}).Limit(nil, ok); got == nil {
		t.Error("no limit: no handler")
	}
}
