package order

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// awaited is what one Await returned, and when.
type awaited struct {
	o     *Order
	ended bool
	err   error
	took  time.Duration
}

// awaitAsync starts Await on order id, as anyone, and returns where its answer comes once it is
// registered in the hub.
func awaitAsync(t *testing.T, ctx context.Context, svc *Service, id string, timeout time.Duration) <-chan awaited {
	t.Helper()
	before := svc.watch.waiting()
	out := make(chan awaited, 1)
	start := time.Now()
	go func() {
		o, ended, err := svc.Await(auth.NewContext(ctx, auth.Anyone), id, timeout)
		out <- awaited{o, ended, err, time.Since(start)}
	}()
	waitFor(t, "the waiter to register", func() bool { return svc.watch.waiting() > before })
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// noPoll makes svc's hub poll the database only hourly, so that a wait that ends was woken.
func noPoll(svc *Service) { svc.watch.poll = time.Hour }

// The saga's step in the consumer's transaction, and a cancel, wake the order's waiters at
// commit, with no poll of the database.
func TestAwaitWokenByCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		noPoll(svc)
		t.Run("saga step", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			done := awaitAsync(t, t.Context(), svc, r.id, 10*time.Second)
			time.Sleep(50 * time.Millisecond) // not a wait that answers whenever it is asked
			select {
			case a := <-done:
				t.Fatalf("Await answered before the order ended: %+v", a)
			default:
			}
			at := time.Now()
			r.step(r.paymentDeclined(), Failed, "FAILED PAYMENT_DECLINED", events.OrderFailedType)
			a := <-done
			if a.err != nil || !a.ended || a.o.Status != Failed {
				t.Fatalf("Await = %+v, want the FAILED order, ended", a)
			}
			if woke := time.Since(at); woke > time.Second {
				t.Errorf("Await answered %v after the commit, want at once", woke)
			}
		})
		t.Run("cancel", func(t *testing.T) {
			r := startSaga(t, svc, db)
			done := awaitAsync(t, t.Context(), svc, r.id, 10*time.Second)
			r.cancel("cancel-1", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)
			a := <-done
			if a.err != nil || !a.ended || a.o.Status != Cancelled || a.took > 2*time.Second {
				t.Fatalf("Await = %+v, want the CANCELLED order, ended, at once", a)
			}
		})
		if n := svc.watch.waiting(); n != 0 {
			t.Errorf("%d waiters left in the hub", n)
		}
	})
}

// An order ended by another replica, whose commit this process does not see, is found by the
// hub's poll.
func TestAwaitSeesOtherProcesses(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		svc.watch.poll = 50 * time.Millisecond
		other := New(db, svc.outbox, svc.log) // a second replica on the same database
		r := startSaga(t, other, db)
		done := awaitAsync(t, t.Context(), svc, r.id, 10*time.Second)
		r.cancel("cancel-1", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)
		a := <-done
		if a.err != nil || !a.ended || a.o.Status != Cancelled || a.took > 2*time.Second {
			t.Fatalf("Await = %+v, want the CANCELLED order, ended, within a poll", a)
		}
		waitFor(t, "the poll to stop with no waiter", func() bool {
			svc.watch.mu.Lock()
			defer svc.watch.mu.Unlock()
			return !svc.watch.polling
		})
	})
}

// At its timeout a wait answers with the order as it is.
func TestAwaitTimeout(t *testing.T) {
	svc, db := newTestService(t)
	noPoll(svc)
	r := startSaga(t, svc, db)
	a := <-awaitAsync(t, t.Context(), svc, r.id, 200*time.Millisecond)
	if a.err != nil || a.ended || a.o.Status != Pending {
		t.Fatalf("Await = %+v, want the PENDING order, not ended", a)
	}
	if a.took < 200*time.Millisecond || a.took > 2*time.Second {
		t.Errorf("Await took %v, want its timeout, 200ms", a.took)
	}
	if n := svc.watch.waiting(); n != 0 {
		t.Errorf("%d waiters left in the hub", n)
	}
}

// A client that goes away stops its wait at once and leaves nothing in the hub.
func TestAwaitClientGone(t *testing.T) {
	svc, db := newTestService(t)
	noPoll(svc)
	r := startSaga(t, svc, db)
	ctx, cancel := context.WithCancel(t.Context())
	done := awaitAsync(t, ctx, svc, r.id, 30*time.Second)
	cancel()
	a := <-done
	if !errors.Is(a.err, context.Canceled) || a.took > 2*time.Second {
		t.Fatalf("Await = %+v, want context.Canceled at once", a)
	}
	if n := svc.watch.waiting(); n != 0 {
		t.Errorf("%d waiters left in the hub", n)
	}
}

// The API: the Order-Wait header, another customer's order not found at once, bad timeouts.
func TestGetOrderWait(t *testing.T) {
	svc, db := newTestService(t)
	noPoll(svc)
	a := NewAPI(svc)
	r := startSaga(t, svc, db)
	r.cancel("cancel-1", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)
	pending := startSaga(t, svc, db)
	terminal := api.GetOrderParamsWaitFor("terminal")
	get := func(p auth.Principal, id, timeout string) (api.GetOrderResponseObject, error) {
		req := api.GetOrderRequestObject{OrderId: uuid.MustParse(id), Params: api.GetOrderParams{WaitFor: &terminal}}
		if timeout != "" {
			req.Params.Timeout = &timeout
		}
		return a.GetOrder(auth.NewContext(t.Context(), p), req)
	}
	for _, tc := range []struct{ id, timeout, want string }{
		{r.id, "", "terminal"}, {pending.id, "100ms", "timeout"},
	} {
		resp, err := get(auth.Anyone, tc.id, tc.timeout)
		got, _ := resp.(api.GetOrder200JSONResponse)
		if err != nil || got.Headers.OrderWait == nil || *got.Headers.OrderWait != tc.want {
			t.Errorf("GET %s waitFor=terminal&timeout=%s = %+v, %v; want Order-Wait: %s", tc.id, tc.timeout, got.Headers, err, tc.want)
		}
	}
	if resp, err := a.GetOrder(auth.NewContext(t.Context(), auth.Anyone),
		api.GetOrderRequestObject{OrderId: uuid.MustParse(r.id)}); err != nil || resp.(api.GetOrder200JSONResponse).Headers.OrderWait != nil {
		t.Errorf("GET without waitFor = %+v, %v; want no Order-Wait", resp, err)
	}

	stranger := auth.Principal{Subject: uuid.NewString(), Scopes: []string{auth.ScopeRead}}
	start := time.Now()
	_, err := get(stranger, pending.id, "5s")
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.ENOTFOUND || time.Since(start) > time.Second {
		t.Errorf("another customer waiting: %v after %v, want not found at once", err, time.Since(start))
	}
	owner := auth.Principal{Subject: pending.customer, Scopes: []string{auth.ScopeRead}}
	if _, err := get(owner, pending.id, "10ms"); err != nil {
		t.Errorf("its customer waiting: %v", err)
	}

	for _, bad := range []string{"soon", "0s", "-1s", "51s", "30"} {
		_, err := get(auth.Anyone, pending.id, bad)
		if !errors.As(err, &e) || e.Code != errs.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "timeout" {
			t.Errorf("timeout=%s: %v, want invalid naming timeout", bad, err)
		}
	}
	if n := svc.watch.waiting(); n != 0 {
		t.Errorf("%d waiters left in the hub", n)
	}
}

// A server shutting down answers every wait at once, with the order as it is, and later ones
// too, rather than holding its shutdown until their timeouts.
func TestAwaitAnswersOnShutdown(t *testing.T) {
	svc, db := newTestService(t)
	noPoll(svc)
	r := startSaga(t, svc, db)
	done := awaitAsync(t, t.Context(), svc, r.id, 30*time.Second)
	svc.StopWaiting()
	svc.StopWaiting() // a second shutdown hook is harmless
	if a := <-done; a.err != nil || a.ended || a.o.Status != Pending || a.took > 2*time.Second {
		t.Errorf("Await = %+v, want the PENDING order at once", a)
	}
	start := time.Now()
	o, ended, err := svc.Await(auth.NewContext(t.Context(), auth.Anyone), r.id, 30*time.Second)
	if err != nil || ended || o.Status != Pending || time.Since(start) > 2*time.Second {
		t.Errorf("a wait after the shutdown: %v %v %v after %v, want the PENDING order at once", o, ended, err, time.Since(start))
	}
	if n := svc.watch.waiting(); n != 0 {
		t.Errorf("%d waiters left in the hub", n)
	}
}

// TestPollsReadOnlyTheOrdersInFlight: the queries that run every second or at every scrape, the
// watchers' poll and the in-flight gauge, find their rows through an index, rather than walking
// every order that ever ended, which grows without bound (SQLite's planner picked the status
// index for both, and dev slowed down as its database grew). SQLite's plans, read by EXPLAIN.
func TestPollsReadOnlyTheOrdersInFlight(t *testing.T) {
	_, db := newTestService(t)
	in, args := db.In(0, []string{"0190a0f2-0000-7000-8000-00000000000a", "0190a0f2-0000-7000-8000-00000000000b"})
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{"watch poll": {watchQuery + in, args}, "in-flight gauge": {inFlightQuery, nil}} {
		plan, err := sqlstore.Collect(t.Context(), db, func(r sqlstore.Scanner) (string, error) {
			var id, parent, unused int
			var detail string
			return detail, r.Scan(&id, &parent, &unused, &detail)
		}, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range plan {
			if !strings.HasPrefix(step, "SEARCH orders USING") || strings.Contains(step, "orders_status") {
				t.Errorf("%s: plan %q, want a search of orders by id or by step deadline", name, plan)
			}
		}
	}
}
