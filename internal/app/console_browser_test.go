package app

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/events"
)

// TestConsoleInBrowser drives the operations console in headless Chromium against a running
// dev: it finds an order and sees its timeline reach COMPLETED, replays a dead letter and sees it
// marked replayed, sets a SKU's stock and sees it through the API, and watches the system page
// draw its charts. Then, with authentication on, it sees the login prompt and no data, signs in
// with an admin's token and cancels an order from its page. Screenshots of each page are saved
// (the path is logged; ORDERSYS_SCREENSHOTS=DIR puts them in DIR).
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)
	const wait = 30 * time.Second

	t.Run("orders, dead letters, stock and the system", func(t *testing.T) {
		d := startDevWith(t, DevConfig{Console: true})
		base := "http://" + d.Addr
		id := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1", "SKU-2"))
		waitStatus(t, base, id, "COMPLETED", wait)

		row := `#orders-table tr[data-order-id="` + id + `"]`
		b.do(t, wait, chromedp.Navigate(base+"/ui/orders"), chromedp.WaitVisible(chromedp.CSS(row)))
		b.waitText(t, row, "COMPLETED", wait)
		b.screenshot(t, "console-orders")
		b.do(t, wait, chromedp.Click(chromedp.CSS(row+" a[href='/ui/orders/"+id+"']")), chromedp.WaitVisible(chromedp.CSS("#order-status")))
		b.waitText(t, "#order-status", "COMPLETED", wait)
		if n := b.count(t, "#timeline li"); n < 5 {
			t.Errorf("the timeline shows %d entries, want PENDING to COMPLETED (5)", n)
		}
		b.waitText(t, "#payments", "CHARGE", wait)
		b.waitText(t, "#reservation", "CONSUMED", wait)
		b.screenshot(t, "console-order")

		// A malformed command, sent with a plain Kafka client, is dead-lettered.
		cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: events.TopicPaymentCommands, Key: []byte("junk"),
			Value: []byte("{not json")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		var letter string
		pollGET(t, base+"/api/v1/admin/dlq", wait, func(body map[string]any) (bool, string) {
			for _, it := range body["items"].([]any) {
				if l := it.(map[string]any); l["key"] == "junk" {
					letter = l["id"].(string)
				}
			}
			return letter != "", "no dead letter yet"
		})
		dlq := `#dlq-table tr[data-dlq-id="` + letter + `"]`
		b.do(t, wait, chromedp.Navigate(base+"/ui/dlq"), chromedp.WaitVisible(chromedp.CSS(dlq)))
		b.waitText(t, dlq+" .dlq-state", "pending", wait)
		b.screenshot(t, "console-dead-letters")
		b.do(t, wait, chromedp.Click(chromedp.CSS(dlq+" button.replay")))
		b.waitText(t, dlq+" .dlq-state", "replayed", wait)

		b.do(t, wait, chromedp.Navigate(base+"/ui/inventory"), chromedp.WaitVisible(chromedp.CSS("#stock-form")),
			chromedp.SetValue(chromedp.CSS("#sku"), "SKU-7"), chromedp.SetValue(chromedp.CSS("#available"), "123"),
			chromedp.Click(chromedp.CSS("#stock-form button[type=submit]")))
		b.waitText(t, `#stock-table tr[data-sku="SKU-7"] .available`, "123", wait)
		var stock struct{ Available float64 }
		if err := json.Unmarshal(do(t, http.MethodGet, base+"/api/v1/inventory/SKU-7", "", "", nil).body, &stock); err != nil || stock.Available != 123 {
			t.Errorf("SKU-7 through the API: %+v, %v; want 123 available", stock, err)
		}
		b.screenshot(t, "console-inventory")

		b.do(t, wait, chromedp.Navigate(base+"/ui/system"), chromedp.WaitVisible(chromedp.CSS("#chart-throughput canvas")),
			chromedp.WaitVisible(chromedp.CSS("#readiness tr[data-process]")))
		b.screenshot(t, "console-system")
	})

	t.Run("sign in, then cancel an order", func(t *testing.T) {
		// Payment does not run, so the order waits in PAYMENT until it is cancelled; the refund the
		// cancel then owes waits for payment to come back, as a process of its own.
		dir := t.TempDir()
		d := startDevWith(t, DevConfig{DataDir: dir, Console: true, Auth: AuthConfig{Mode: authJWT},
			Services: []string{"order", "inventory", "fulfillment", "notification"}, Rules: Rules{StepTimeout: time.Hour}})
		base := "http://" + d.Addr
		key, err := auth.LoadDevKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		token, err := key.Mint(uuid.NewString(), []string{auth.ScopeAdmin}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		id := placeOrderAs(t, base, "Bearer "+token, orderBody(uuid.NewString(), "SKU-1"))

		b.do(t, wait, chromedp.Navigate(base+"/ui/orders"), chromedp.WaitVisible(chromedp.CSS("#login-prompt")))
		if n := b.count(t, "#orders-table"); n != 0 {
			t.Fatalf("without a token the page shows %d order tables", n)
		}
		b.screenshot(t, "console-login")
		b.do(t, wait, chromedp.SendKeys(chromedp.CSS("#token"), token),
			chromedp.Click(chromedp.CSS("#login button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`#orders-table tr[data-order-id="`+id+`"]`)))

		b.do(t, wait, chromedp.Navigate(base+"/ui/orders/"+id), chromedp.WaitVisible(chromedp.CSS("#cancel")))
		b.waitText(t, "#order-status", "PAYMENT", wait)
		// hx-confirm asks with window.confirm: the test answers yes, and counts the question.
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](
			`window.asked = 0; window.confirm = () => { window.asked++; return true }`)); err != nil {
			t.Fatal(err)
		}
		b.do(t, wait, chromedp.Click(chromedp.CSS("#cancel")))
		b.waitText(t, "#order-status", "COMPENSATING", wait)
		startProcess(t, "payment", serveReady, "serve", "payment", "--addr", "127.0.0.1:0", "--database-url", "sqlite:"+dir,
			"--kafka-brokers", d.KafkaAddr, "--partitions", "1", "--auth", "none", "--instance-id", "payment-back", "--log-level", "warn")
		b.waitText(t, "#order-status", "CANCELLED", wait)
		b.screenshot(t, "console-order-cancelled")
		if asked, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("window.asked")); err != nil || asked != 1 {
			t.Errorf("the cancel asked for confirmation %d times (%v), want once", asked, err)
		}
		if o := authed(t, http.MethodGet, base+"/api/v1/orders/"+id, "Bearer "+token, "", "").json(t); o["status"] != "CANCELLED" {
			t.Errorf("the order through the API: %v, want CANCELLED", o["status"])
		}
	})
}
