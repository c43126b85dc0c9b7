package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// maxBody caps how much of any response is read; the API's answers are a few
// hundred bytes, and a misbehaving server must not make the tool buffer more.
const maxBody = 1 << 20

// acceptedOrder is what following needs from a successful create.
type acceptedOrder struct {
	id         string
	createdAt  time.Time // server clock, from the 201 body
	answeredAt time.Time // client clock, when the 201 arrived
	token      string    // the bearer token its GETs carry
}

// create posts one random order and records its outcome. ok is false when the
// order was not accepted; the failure has already been counted then.
func (r *runner) create(ctx context.Context) (acceptedOrder, bool) {
	order := randomOrder(r.cfg.SKUs)
	token, err := r.bearer(order.CustomerID)
	if err != nil {
		r.stats.fail("create: mint token")
		return acceptedOrder{}, false
	}
	body, err := json.Marshal(order)
	if err != nil {
		r.stats.fail("create: encode body")
		return acceptedOrder{}, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.createURL, bytes.NewReader(body))
	if err != nil {
		r.stats.fail("create: build request")
		return acceptedOrder{}, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// A fresh key per order: each create is a new order, never a retry.
	req.Header.Set("Idempotency-Key", uuid.NewString())

	sentAt := time.Now()
	r.stats.markSent(sentAt)
	resp, err := r.client.Do(req)
	if err != nil {
		r.stats.fail("create: " + transportKind(ctx, err))
		return acceptedOrder{}, false
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	answeredAt := time.Now()
	if err != nil {
		r.stats.fail("create: " + transportKind(ctx, err))
		return acceptedOrder{}, false
	}
	// Every answered create is timed, rejected ones included: a server that
	// sheds load quickly should show up in the latency it actually gives.
	r.stats.recordCreateLatency(answeredAt.Sub(sentAt))

	if resp.StatusCode != http.StatusCreated {
		r.stats.fail(fmt.Sprintf("create: HTTP %d", resp.StatusCode))
		return acceptedOrder{}, false
	}
	var cr createOrderResponse
	if err := json.Unmarshal(payload, &cr); err != nil || cr.OrderID == "" {
		r.stats.fail("create: 201 without orderId")
		return acceptedOrder{}, false
	}
	createdAt, err := time.Parse(time.RFC3339Nano, cr.CreatedAt)
	if err != nil {
		// Without createdAt the create-to-terminal latency cannot be
		// computed on the server's clock, which is the point of following.
		r.stats.fail("create: 201 with bad createdAt")
		return acceptedOrder{}, false
	}
	r.stats.markAccepted(answeredAt, createdAt)
	return acceptedOrder{id: cr.OrderID, createdAt: createdAt, answeredAt: answeredAt, token: token}, true
}

// bearer is the token to send for customer's requests ("" for none).
func (r *runner) bearer(customer string) (string, error) {
	if r.cfg.Mint != nil {
		return r.cfg.Mint(customer)
	}
	return r.cfg.Token, nil
}
