package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/auth"
)

// TestConsoleInDev: `ordersys dev --auth jwt` serves the console at /ui without a token (it is no
// API operation), its fragments show the login prompt and nothing else until the API accepts an
// admin's token, which the console forwards, and its actions reach the API. Fulfillment does not
// run, so an order waits in FULFILLMENT for the cancel.
func TestConsoleInDev(t *testing.T) {
	dir := t.TempDir()
	d := startDevWith(t, DevConfig{DataDir: dir, Console: true, Auth: AuthConfig{Mode: authJWT},
		Services: []string{"order", "payment", "inventory", "notification"}, Rules: Rules{StepTimeout: time.Hour}})
	base := "http://" + d.Addr
	key, err := auth.LoadDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := key.Mint(uuid.NewString(), []string{auth.ScopeAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin = "Bearer " + admin

	id := placeOrderAs(t, base, admin, orderBody(uuid.NewString(), "SKU-1"))
	pollConsole(t, base+"/ui/fragments/orders/"+id, admin, `data-status="FULFILLMENT"`)

	get := func(path, authz string) (int, string, http.Header) {
		t.Helper()
		return consoleRequest(t, http.MethodGet, base+path, authz, "")
	}
	for _, p := range []string{"/ui/", "/ui/dlq", "/ui/inventory", "/ui/system"} {
		if status, body, _ := get(p, ""); status != http.StatusOK || !strings.Contains(body, `id="main"`) || strings.Contains(body, id) {
			t.Errorf("page %s without a token: %d\n%s", p, status, body)
		}
	}
	if status, _, h := get("/ui/static/htmx.min.js", ""); status != http.StatusOK || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("htmx.min.js: %d %q", status, h.Get("Content-Type"))
	}
	for _, p := range []string{"/ui/fragments/orders", "/ui/fragments/orders/" + id, "/ui/fragments/dlq", "/ui/fragments/system"} {
		status, body, h := get(p, "")
		if status != http.StatusUnauthorized || h.Get("HX-Retarget") != "#main" || !strings.Contains(body, `id="login"`) || strings.Contains(body, id) {
			t.Errorf("fragment %s without a token: %d, HX-Retarget %q:\n%s", p, status, h.Get("HX-Retarget"), body)
		}
	}

	status, body, _ := get("/ui/fragments/orders", admin)
	if status != http.StatusOK || !strings.Contains(body, `data-order-id="`+id+`"`) || !strings.Contains(body, `id="counts"`) {
		t.Errorf("orders with the admin's token: %d\n%s", status, body)
	}
	status, body, _ = get("/ui/fragments/orders/"+id, admin)
	if status != http.StatusOK || !strings.Contains(body, `id="cancel"`) || !strings.Contains(body, `data-kind="CHARGE"`) ||
		!strings.Contains(body, "waiting for ShipmentCreated, ShipmentFailed") {
		t.Errorf("the order with the admin's token: %d\n%s", status, body)
	}
	status, body, _ = get("/ui/fragments/system", admin)
	if status != http.StatusOK || !strings.Contains(body, `data-status="ok"`) || !strings.Contains(body, `data-service="order"`) {
		t.Errorf("system with the admin's token: %d\n%s", status, body)
	}

	status, body, _ = consoleRequest(t, http.MethodPost, base+"/ui/fragments/orders/"+id+"/cancel", admin, "")
	if status != http.StatusOK || !strings.Contains(body, "Cancel accepted") {
		t.Fatalf("cancel: %d\n%s", status, body)
	}
	pollConsole(t, base+"/ui/fragments/orders/"+id, admin, "CANCELLING_SHIPMENT")

	status, body, _ = consoleRequest(t, http.MethodPost, base+"/ui/fragments/inventory", admin, "sku=CONSOLE-1&available=12.5")
	if status != http.StatusOK || !strings.Contains(body, `data-sku="CONSOLE-1"`) {
		t.Errorf("set stock: %d\n%s", status, body)
	}
	r := authed(t, http.MethodGet, base+"/api/v1/inventory/CONSOLE-1", admin, "", "")
	if r.status != http.StatusOK || r.json(t)["available"] != 12.5 {
		t.Errorf("stock set through the console: %d %s", r.status, r.body)
	}
}

// placeOrderAs places an order with authz and returns its id.
func placeOrderAs(t *testing.T, base, authz, body string) string {
	t.Helper()
	r := authed(t, http.MethodPost, base+"/api/v1/orders/create", authz, uuid.NewString(), body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(t)["orderId"].(string)
}

// consoleRequest sends what the console's pages send: htmx's header, the token, a form.
func consoleRequest(t *testing.T, method, url, authz, form string) (int, string, http.Header) {
	t.Helper()
	h := http.Header{"Hx-Request": {"true"}}
	if form != "" {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	r := send(t, method, url, h, []byte(form))
	return r.status, string(r.body), r.header
}

// pollConsole gets a console fragment until it contains want.
func pollConsole(t *testing.T, url, authz, want string) {
	t.Helper()
	var body string
	poll(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		_, body, _ = consoleRequest(t, http.MethodGet, url, authz, "")
		return strings.Contains(body, want), "console shows no " + want + ":\n" + body
	})
}

// TestParseConsole: the console is on by default; serve takes the other services' URLs, from
// flags and the environment, and refuses one it could not call.
func TestParseConsole(t *testing.T) {
	none := func(string) string { return "" }
	dev, _, err := parseDev(nil, none, io.Discard)
	if err != nil || !dev.Console {
		t.Errorf("dev: console %v, %v; want on", dev.Console, err)
	}
	if dev, _, err := parseDev([]string{"--console=false"}, none, io.Discard); err != nil || dev.Console {
		t.Errorf("dev --console=false: console %v, %v", dev.Console, err)
	}
	env := map[string]string{"ORDERSYS_CONSOLE_INVENTORY_URL": "http://inventory:3001"}
	cfg, _, err := parseServe([]string{"--auth", "none", "--console-payment-url", "https://payment.internal:8443/"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"inventory": "http://inventory:3001", "payment": "https://payment.internal:8443/", "fulfillment": "", "notification": ""}
	if !cfg.Console || len(cfg.ConsoleURLs) != len(want) {
		t.Errorf("serve: console %v, URLs %v", cfg.Console, cfg.ConsoleURLs)
	}
	for svc, u := range want {
		if cfg.ConsoleURLs[svc] != u {
			t.Errorf("serve: %s URL %q, want %q", svc, cfg.ConsoleURLs[svc], u)
		}
	}
	for _, bad := range []string{"payment:3001", "ftp://payment", "http://", "http://payment:3001/?x=1", "http://u:s3cret@payment:3001"} {
		if _, _, err := parseServe([]string{"--auth", "none", "--console-payment-url", bad}, none, io.Discard); err == nil ||
			!strings.Contains(err.Error(), "--console-payment-url") {
			t.Errorf("--console-payment-url %q: %v", bad, err)
		}
	}
}
