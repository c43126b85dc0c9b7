package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	adminToken  = "Bearer admin"
	readerToken = "Bearer reader" // a valid token without ordersys:admin
	orderID     = "01a241a7-7645-7b39-8d02-9f5af7596105"
	customerID  = "67993c38-8059-4d8b-8567-1542560584ee"
)

// fakeAPI stands in for ordersys's API: it answers a few operations with fixed data, refuses a
// request without a token (401) or, for admin operations, with the reader's (403), and records
// the calls.
type fakeAPI struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	method, path, query, authz, idemKey, body string
}

func (f *fakeAPI) recorded(method, path string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.method == method && c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), string(body)})
	f.mu.Unlock()
	public := strings.HasPrefix(r.URL.Path, "/api/utility/") || r.URL.Path == "/metrics"
	admin := r.URL.Path == "/api/v1/orders/counts" || strings.HasPrefix(r.URL.Path, "/api/v1/admin/") || r.Method == http.MethodPut
	authz := r.Header.Get("Authorization")
	switch {
	case public:
	case authz != adminToken && authz != readerToken:
		problemAnswer(w, http.StatusUnauthorized, "Authentication required")
		return
	case admin && authz != adminToken:
		problemAnswer(w, http.StatusForbidden, "Insufficient scope")
		return
	}
	answer := func(v string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, v)
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /api/v1/orders":
		answer(`{"items":[{"orderId":"` + orderID + `","customerId":"` + customerID + `","status":"PAYMENT","totalAmount":39.98,"currency":"USD",
			"createdAt":"2026-12-04T15:23:43.557731Z","updatedAt":"2026-12-04T15:23:43.6Z",
			"step":{"attempts":2,"maxAttempts":3,"deadline":"2026-12-04T15:24:43Z","waitingFor":["PaymentCharged","PaymentDeclined"]}}],"page":1,"size":20,"total":1}`)
	case "GET /api/v1/orders/counts":
		answer(`{"counts":{"PENDING":0,"PAYMENT":1,"INVENTORY":0,"FULFILLMENT":0,"COMPENSATING":0,"COMPLETED":7,"FAILED":2,"CANCELLED":0}}`)
	case "GET /api/v1/orders/" + orderID:
		answer(`{"orderId":"` + orderID + `","customerId":"` + customerID + `","status":"PAYMENT","totalAmount":39.98,"currency":"USD",
			"createdAt":"2026-12-04T15:23:43.557731Z","updatedAt":"2026-12-04T15:23:43.6Z","traceId":"4bf92f3577b34da6a3ce929d0e0e4736",
			"items":[{"sku":"SKU-1","quantity":2,"unitPrice":19.99,"lineTotal":39.98}],
			"shippingAddress":{"country":"USA","city":"Austin","addressLine1":"Lincoln, 65"},
			"history":[{"status":"PENDING","at":"2026-12-04T15:23:43.557731Z"},{"status":"PAYMENT","at":"2026-12-04T15:23:43.574Z"},
				{"status":"PAYMENT","at":"2026-12-04T15:24:13.574Z","reason":"STEP_RETRIED"}],
			"step":{"attempts":2,"maxAttempts":3,"deadline":"2026-12-04T15:24:43Z","waitingFor":["PaymentCharged","PaymentDeclined"]}}`)
	case "POST /api/v1/orders/" + orderID + "/cancel":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"orderId":"`+orderID+`","status":"COMPENSATING"}`)
	case "GET /api/v1/payments":
		answer(`{"items":[{"paymentId":"pay-1","orderId":"` + orderID + `","kind":"CHARGE","amount":39.98,"currency":"USD","createdAt":"2026-12-04T15:23:43.6Z"}]}`)
	case "GET /api/v1/shipments":
		answer(`{"items":[]}`)
	case "GET /api/v1/notifications":
		problemAnswer(w, http.StatusServiceUnavailable, "Database unavailable")
	case "GET /api/v1/inventory":
		answer(inventoryPage(r.URL.Query()))
	case "PUT /api/v1/inventory/SKU-2":
		answer(`{"sku":"SKU-2","available":42,"reserved":0}`)
	case "GET /api/v1/admin/dlq":
		answer(`{"items":[{"id":"payments.commands.dlq:0:0","topic":"payments.commands.dlq","originalTopic":"payments.commands",
			"originalPartition":0,"originalOffset":263,"key":"not-an-order","eventId":"","eventType":"","error":"not a CloudEvents 1.0 record",
			"attempts":1,"consumer":"payment","deadLetteredAt":"2026-12-04T15:25:59Z","state":"pending",
			"headers":{"content-type":"application/json"},"payload":{"orderId":"x","items":[1,2]}},
			{"id":"payments.commands.dlq:0:1","topic":"payments.commands.dlq","originalTopic":"payments.commands","originalPartition":0,
			"originalOffset":264,"key":"k","eventId":"e","eventType":"ChargePayment","error":"boom","attempts":8,"consumer":"payment",
			"deadLetteredAt":"2026-12-04T15:26:00Z","state":"replayed","stateAt":"2026-12-04T15:27:00Z","headers":{},"payload":"plain text"}]}`)
	case "POST /api/v1/admin/dlq/payments.commands.dlq:0:0/replay", "POST /api/v1/admin/dlq/payments.commands.dlq:0:1/replay":
		w.WriteHeader(http.StatusAccepted)
		answer(`{}`)
	case "POST /api/v1/admin/dlq/payments.commands.dlq:0:0/discard":
		answer(`{}`)
	case "GET /api/utility/readiness":
		answer(`{"status":"ok","checks":{"broker":"ok"}}`)
	case "GET /metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "# TYPE ordersys_orders_finished_total counter\nordersys_orders_finished_total{status=\"COMPLETED\",reason=\"\"} 7\n"+
			"# TYPE ordersys_outbox_backlog gauge\nordersys_outbox_backlog{service=\"order\"} 3\n")
	default:
		problemAnswer(w, http.StatusNotFound, "Not found")
	}
}

// inventoryPage pages, as the API does, 101 SKUs: SKU-1 and SKU-2, then SKU-X003 to SKU-X101, so
// that the console must read two pages of 100 to show them all.
func inventoryPage(q url.Values) string {
	levels := []string{`{"sku":"SKU-1","available":100.5,"reserved":2}`, `{"sku":"SKU-2","available":0,"reserved":0}`}
	for i := 3; i <= 101; i++ {
		levels = append(levels, fmt.Sprintf(`{"sku":"SKU-X%03d","available":1,"reserved":0}`, i))
	}
	page, size := 1, 20
	if n, err := strconv.Atoi(q.Get("page")); err == nil {
		page = n
	}
	if n, err := strconv.Atoi(q.Get("size")); err == nil {
		size = n
	}
	from := min((page-1)*size, len(levels))
	return fmt.Sprintf(`{"items":[%s],"page":%d,"size":%d,"total":%d}`,
		strings.Join(levels[from:min(from+size, len(levels))], ","), page, size, len(levels))
}

func problemAnswer(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": "fake"})
}

// setup serves a console whose every service is a fakeAPI.
func setup(t *testing.T) (console string, api *fakeAPI) {
	t.Helper()
	api = &fakeAPI{}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	urls := map[string]string{}
	for _, s := range serviceNames {
		urls[s] = apiSrv.URL
	}
	c, err := New(Config{URLs: urls, SampleEvery: 50 * time.Millisecond, IdleAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv.URL, api
}

type answer struct {
	status int
	header http.Header
	body   string
}

func request(t *testing.T, method, url, authz string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if method != http.MethodGet {
		req.Header.Set("HX-Request", "true")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

// fragments are every data fragment, with what each shows only with a token.
var fragments = []struct {
	method, path string
	form         url.Values
	data         []string
}{
	{"GET", "/ui/fragments/orders", nil, []string{`data-order-id="` + orderID + `"`, `id="counts"`, "attempt 2 of 3", "waiting for PaymentCharged, PaymentDeclined"}},
	{"GET", "/ui/fragments/orders?stuck=true&olderThan=5m&age=1h", nil, []string{`data-order-id="` + orderID + `"`}},
	{"GET", "/ui/fragments/orders/" + orderID, nil, []string{`id="order-status"`, "4bf92f3577b34da6a3ce929d0e0e4736", `data-sku="SKU-1"`,
		`data-kind="CHARGE"`, "STEP_RETRIED", `id="cancel"`, "notification service answered 503"}},
	{"POST", "/ui/fragments/orders/" + orderID + "/cancel", url.Values{}, []string{`id="order-status"`, "Cancel accepted (COMPENSATING)"}},
	{"GET", "/ui/fragments/dlq", nil, []string{`data-dlq-id="payments.commands.dlq:0:0"`, `data-state="replayed"`, "&#34;orderId&#34;: &#34;x&#34;", "plain text"}},
	{"POST", "/ui/fragments/dlq/replay", url.Values{"id": {"payments.commands.dlq:0:0", "payments.commands.dlq:0:1"}}, []string{"Replayed 2 of 2 selected.", `data-dlq-id=`}},
	{"POST", "/ui/fragments/dlq/discard", url.Values{"id": {"payments.commands.dlq:0:0"}}, []string{"Discarded 1 of 1 selected.", `data-dlq-id=`}},
	// The last SKU is on the API's second page of 100.
	{"GET", "/ui/fragments/inventory", nil, []string{`data-sku="SKU-1"`, "100.5", `id="stock-form"`, `data-sku="SKU-X101"`}},
	{"POST", "/ui/fragments/inventory", url.Values{"sku": {"SKU-2"}, "available": {"42"}}, []string{"SKU-2: available 42", `data-sku="SKU-1"`}},
	{"GET", "/ui/fragments/system", nil, []string{`data-process=`, `data-status="ok"`, `id="system-charts"`, `data-service="order"`}},
}

// TestFragmentsShowNothingWithoutAdmin: without a token, and with one the API refuses for
// admin operations, every fragment is the login prompt, aimed at the whole page, and holds none
// of the data it shows an admin.
func TestFragmentsShowNothingWithoutAdmin(t *testing.T) {
	base, _ := setup(t)
	for _, f := range fragments {
		for _, authz := range []string{"", "Bearer garbage"} {
			a := request(t, f.method, base+f.path, authz, f.form)
			if a.status != http.StatusUnauthorized || a.header.Get("HX-Retarget") != "#main" {
				t.Errorf("%s %s with %q: %d, HX-Retarget %q; want 401 aimed at #main", f.method, f.path, authz, a.status, a.header.Get("HX-Retarget"))
			}
			mustContain(t, f.path, a.body, `id="login"`, `id="token"`)
			for _, d := range f.data {
				if strings.Contains(a.body, d) {
					t.Errorf("%s %s with %q shows %q:\n%s", f.method, f.path, authz, d, a.body)
				}
			}
		}
	}
	// The reader's token: every page calls an admin operation but the order's and the stock's,
	// which the API lets a customer read (its own).
	for _, path := range []string{"/ui/fragments/orders", "/ui/fragments/dlq", "/ui/fragments/system"} {
		a := request(t, "GET", base+path, readerToken, nil)
		if a.status != http.StatusForbidden {
			t.Errorf("%s with the reader's token: %d, want 403", path, a.status)
		}
		mustContain(t, path, a.body, `id="login"`, "lacks the scope")
		if strings.Contains(a.body, "data-order-id") || strings.Contains(a.body, "data-dlq-id") || strings.Contains(a.body, "data-process") {
			t.Errorf("%s with the reader's token shows data:\n%s", path, a.body)
		}
	}
}

// TestFragmentsForwardTheToken: with the admin's token each fragment shows its data, every API
// call carried the token, and actions made the calls they stand for.
func TestFragmentsForwardTheToken(t *testing.T) {
	base, api := setup(t)
	for _, f := range fragments {
		a := request(t, f.method, base+f.path, adminToken, f.form)
		if a.status != http.StatusOK {
			t.Errorf("%s %s: %d\n%s", f.method, f.path, a.status, a.body)
			continue
		}
		mustContain(t, f.path, a.body, f.data...)
		if strings.Contains(a.body, `id="login"`) {
			t.Errorf("%s %s shows the login prompt to the admin", f.method, f.path)
		}
	}
	api.mu.Lock()
	for _, c := range api.calls {
		if c.path != "/metrics" && c.authz != adminToken {
			t.Errorf("%s %s sent Authorization %q", c.method, c.path, c.authz)
		}
	}
	api.mu.Unlock()

	cancels := api.recorded("POST", "/api/v1/orders/"+orderID+"/cancel")
	if len(cancels) != 1 || len(cancels[0].idemKey) != 36 {
		t.Errorf("cancel calls: %+v, want one with a UUID Idempotency-Key", cancels)
	}
	if puts := api.recorded("PUT", "/api/v1/inventory/SKU-2"); len(puts) != 1 || puts[0].body != `{"available":42}` {
		t.Errorf("stock calls: %+v, want one with {\"available\":42}", puts)
	}
	for _, id := range []string{"payments.commands.dlq:0:0", "payments.commands.dlq:0:1"} {
		if n := len(api.recorded("POST", "/api/v1/admin/dlq/"+id+"/replay")); n != 1 {
			t.Errorf("replays of %s: %d, want 1", id, n)
		}
	}
	lists := api.recorded("GET", "/api/v1/orders")
	var stuck bool
	for _, c := range lists {
		q, _ := url.ParseQuery(c.query)
		if q.Get("stuck") == "true" {
			stuck = true
			if q.Get("olderThan") != "5m" || q.Get("createdBefore") == "" || q.Has("age") {
				t.Errorf("stuck list query %q: want stuck, olderThan, and the age as createdBefore", c.query)
			}
		}
	}
	if !stuck {
		t.Error("no stuck list was asked for")
	}
}

// TestPagesArePublicShells: pages need no token and hold no data, only the fragment they load.
func TestPagesArePublicShells(t *testing.T) {
	base, api := setup(t)
	for path, fragment := range map[string]string{
		"/ui/":                  "/ui/fragments/orders?",
		"/ui/orders?stuck=true": "/ui/fragments/orders?stuck=true",
		"/ui/orders/" + orderID: "/ui/fragments/orders/" + orderID,
		"/ui/dlq":               "/ui/fragments/dlq",
		"/ui/inventory":         "/ui/fragments/inventory",
		"/ui/system":            "/ui/fragments/system",
	} {
		a := request(t, "GET", base+path, "", nil)
		if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", path, a.status, a.header.Get("Content-Type"))
		}
		mustContain(t, path, a.body, `hx-get="`+fragment, `id="main"`, "/ui/static/htmx.min.js?v=", "/ui/static/console.js?v=")
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	if n := len(api.calls); n != 0 {
		t.Errorf("pages called the API %d times", n)
	}
	if a := request(t, "GET", base+"/ui/orders/not-a-uuid", "", nil); a.status != http.StatusNotFound {
		t.Errorf("an order page for a bad id: %d", a.status)
	}
	if a := request(t, "GET", base+"/ui/nothing", "", nil); a.status != http.StatusNotFound {
		t.Errorf("/ui/nothing: %d", a.status)
	}
}

// TestActionsNeedHTMX: a POST without HX-Request (a cross-site form could send one) is refused
// before the API is called.
func TestActionsNeedHTMX(t *testing.T) {
	base, api := setup(t)
	resp, err := http.PostForm(base+"/ui/fragments/inventory", url.Values{"sku": {"SKU-2"}, "available": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(api.calls) != 0 {
		t.Errorf("POST without HX-Request: %d, %d API calls; want 403 and none", resp.StatusCode, len(api.calls))
	}
}

// TestActionErrorsGoToTheFlash: a refused change is shown above the page, which stays.
func TestActionErrorsGoToTheFlash(t *testing.T) {
	base, api := setup(t)
	a := request(t, "POST", base+"/ui/fragments/inventory", adminToken, url.Values{"sku": {"SKU-9"}, "available": {"1"}})
	if a.status != http.StatusNotFound || a.header.Get("HX-Retarget") != "#flash" {
		t.Errorf("stock of a SKU the fake lacks: %d, HX-Retarget %q", a.status, a.header.Get("HX-Retarget"))
	}
	a = request(t, "POST", base+"/ui/fragments/inventory", adminToken, url.Values{"sku": {"SKU-2"}, "available": {"-1"}})
	if a.status != http.StatusBadRequest || a.header.Get("HX-Retarget") != "#flash" {
		t.Errorf("negative stock: %d, HX-Retarget %q", a.status, a.header.Get("HX-Retarget"))
	}
	a = request(t, "POST", base+"/ui/fragments/dlq/replay", adminToken, url.Values{})
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "Select at least one") {
		t.Errorf("replay of nothing: %d %s", a.status, a.body)
	}
	many := url.Values{}
	for i := range 101 {
		many.Add("id", fmt.Sprintf("payments.commands.dlq:0:%d", i))
	}
	a = request(t, "POST", base+"/ui/fragments/dlq/replay", adminToken, many)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "at most 100") || len(api.recorded("POST", "/api/v1/admin/dlq/payments.commands.dlq:0:100/replay")) != 0 {
		t.Errorf("replay of 101 letters: %d %s", a.status, a.body)
	}
}

// TestStaticAssets: the embedded files, with their types and validators.
func TestStaticAssets(t *testing.T) {
	base, _ := setup(t)
	for name, ctype := range map[string]string{
		"htmx.min.js":       "text/javascript; charset=utf-8",
		"uPlot.iife.min.js": "text/javascript; charset=utf-8",
		"console.js":        "text/javascript; charset=utf-8",
		"uPlot.min.css":     "text/css; charset=utf-8",
		"console.css":       "text/css; charset=utf-8",
	} {
		a := request(t, "GET", base+"/ui/static/"+name, "", nil)
		if a.status != http.StatusOK || a.header.Get("Content-Type") != ctype || len(a.body) < 100 || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q, %d bytes", name, a.status, a.header.Get("Content-Type"), len(a.body))
			continue
		}
		req, _ := http.NewRequest("GET", base+"/ui/static/"+name, nil)
		req.Header.Set("If-None-Match", a.header.Get("ETag"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", name, resp.StatusCode)
		}
	}
	if a := request(t, "GET", base+"/ui/static/README.md", "", nil); a.status != http.StatusNotFound {
		t.Errorf("README.md is served: %d", a.status)
	}
}

// TestSamplerStopsWhenNobodyLooks: sampling starts with the System page and ends after its idle
// time without a request.
func TestSamplerStopsWhenNobodyLooks(t *testing.T) {
	base, api := setup(t)
	a := request(t, "GET", base+"/ui/fragments/system", adminToken, nil)
	mustContain(t, "system", a.body, `data-service="order"`, "COMPLETED")
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := len(api.recorded("GET", "/metrics"))
		time.Sleep(400 * time.Millisecond) // twice the idle time
		if m := len(api.recorded("GET", "/metrics")); m == n && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sampler still scrapes with nobody looking")
		}
	}
	request(t, "GET", base+"/ui/fragments/system", adminToken, nil)
	n := len(api.recorded("GET", "/metrics"))
	time.Sleep(150 * time.Millisecond)
	if m := len(api.recorded("GET", "/metrics")); m <= n {
		t.Errorf("sampling did not start again: %d scrapes, then %d", n, m)
	}
}
