package order

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestOrderStep: an order shows the step it is in, as Get and List read it, all the way along a
// path that takes every kind of step (a retry, a cancel in FULFILLMENT, two undos), and none once
// it has ended.
func TestOrderStep(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		r := startSaga(t, svc, db)
		check := func(status Status, attempts int, waiting ...events.Type) {
			t.Helper()
			o, err := svc.Get(ctx, r.id)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != status {
				t.Fatalf("order is %s, want %s", o.Status, status)
			}
			listed, _, err := svc.List(ctx, Filter{CustomerID: r.customer, Page: 1, Size: 10})
			if err != nil || len(listed) != 1 {
				t.Fatalf("list = %v, %v; want the order", listed, err)
			}
			for what, step := range map[string]*Step{"Get": o.Step, "List": listed[0].Step} {
				if status.Terminal() {
					if step != nil {
						t.Errorf("%s: ended order in %s has step %+v", what, status, step)
					}
					continue
				}
				var deadline time.Time
				if err := db.DB.QueryRowContext(ctx, `SELECT step_deadline FROM orders WHERE id = $1`, r.id).Scan(&deadline); err != nil {
					t.Fatal(err)
				}
				switch {
				case step == nil:
					t.Errorf("%s: order in %s has no step", what, status)
				case step.Attempts != attempts || step.MaxAttempts != svc.StepAttempts || !step.Deadline.Equal(deadline) ||
					!slices.Equal(step.WaitingFor, waiting):
					t.Errorf("%s: step in %s = %+v, want %d of %d attempts, deadline %v, waiting for %v",
						what, status, step, attempts, svc.StepAttempts, deadline, waiting)
				}
			}
		}
		feedOK := func(p events.Payload) {
			t.Helper()
			if err := feed(t, svc, db, sourceOf(p.EventType()), r.id, p); err != nil {
				t.Fatalf("%s: %v", p.EventType(), err)
			}
		}

		check(Pending, 0, events.OrderCreatedType)
		feedOK(r.orderCreated())
		check(Payment, 1, events.PaymentChargedType, events.PaymentDeclinedType)
		if err := svc.expireSteps(ctx, now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		check(Payment, 2, events.PaymentChargedType, events.PaymentDeclinedType)
		feedOK(r.paymentCharged())
		check(Inventory, 1, events.StockReservedType, events.StockRejectedType)
		feedOK(r.stockReserved())
		check(Fulfillment, 1, events.ShipmentCreatedType, events.ShipmentFailedType)
		if _, err := svc.Cancel(ctx, r.id, "cancel"); err != nil {
			t.Fatal(err)
		}
		check(Fulfillment, 1, events.ShipmentCancelledType, events.ShipmentCreatedType, events.ShipmentFailedType)
		feedOK(r.shipmentCancelled())
		check(Compensating, 1, events.PaymentRefundedType, events.StockReleasedType)
		feedOK(r.paymentRefunded())
		check(Compensating, 1, events.StockReleasedType)
		feedOK(r.stockReleased())
		check(Cancelled, 0)
	})
}

// TestAwaitingHasRules: every reply a step says it awaits is one the saga's table applies in that
// step's status, and a step in flight always awaits something.
func TestAwaitingHasRules(t *testing.T) {
	for _, st := range Statuses {
		for _, s := range []sagaState{{Status: st}, {Status: st, CancelPending: true},
			{Status: st, RefundPending: true}, {Status: st, ReleasePending: true}, {Status: st, RefundPending: true, ReleasePending: true}} {
			waiting := awaiting(s)
			if st.Terminal() != (len(waiting) == 0) && !(st == Compensating && !s.RefundPending && !s.ReleasePending) {
				t.Errorf("%+v awaits %v", s, waiting)
			}
			for _, e := range waiting {
				if _, ok := rules[st][e]; !ok {
					t.Errorf("%+v awaits %s, which no rule of %s applies", s, e, st)
				}
				if e.Name() == "" || strings.Contains(e.Name(), ".") {
					t.Errorf("%s has no name fit for the API: %q", e, e.Name())
				}
			}
		}
	}
	if got := events.PaymentChargedType.Name(); got != "PaymentCharged" {
		t.Errorf("PaymentChargedType.Name() = %q, want PaymentCharged", got)
	}
}

// stuckOrders makes the orders the stuck-list tests look at, newest last, for customer:
//
//	fresh:    PENDING, created now, deadline ahead: not stuck
//	overdue:  PAYMENT, created now, deadline passed: stuck
//	old:      PENDING, created 10 minutes ago, deadline ahead: stuck past 5 minutes, not past 15
//	ended:    CANCELLED, created 20 minutes ago: never stuck
//
// and returns their ids.
func stuckOrders(t *testing.T, svc *Service, db *sqlstore.DB, customer uuid.UUID) (fresh, overdue, old, ended string) {
	t.Helper()
	ctx := context.Background()
	make := func(key string) string {
		return mustCreate(t, svc, key+"-"+uuid.NewString(), quickStart(customer)).Body.OrderID.String()
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.DB.ExecContext(ctx, query, args...); err != nil {
			t.Fatal(err)
		}
	}
	at := now()
	ended = make("ended")
	if _, err := svc.Cancel(ctx, ended, "cancel"); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE orders SET created_at = $1 WHERE id = $2`, at.Add(-20*time.Minute), ended)
	old = make("old")
	exec(`UPDATE orders SET created_at = $1 WHERE id = $2`, at.Add(-10*time.Minute), old)
	fresh = make("fresh")
	overdue = make("overdue")
	if err := feed(t, svc, db, Name, overdue, events.OrderCreated{OrderID: overdue}); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE orders SET step_deadline = $1 WHERE id = $2`, at.Add(-time.Second), overdue)
	return fresh, overdue, old, ended
}

// TestListStuck: stuck=true lists the orders not ended that are past their step's deadline or
// older than olderThan (5 minutes unless said), each with its step, newest first; with the other
// filters too. createdBefore keeps the orders created before it.
func TestListStuck(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		customer := uuid.New()
		fresh, overdue, old, ended := stuckOrders(t, svc, db, customer)
		other := mustCreate(t, svc, "other", quickStart(uuid.New())).Body.OrderID.String()
		if _, err := db.DB.ExecContext(ctx, `UPDATE orders SET step_deadline = $1 WHERE id = $2`, now().Add(-time.Second), other); err != nil {
			t.Fatal(err)
		}
		names := map[string]string{fresh: "fresh", overdue: "overdue", old: "old", ended: "ended", other: "other"}

		for _, tt := range []struct {
			name string
			f    Filter
			want []string
		}{
			{"stuck", Filter{Stuck: true}, []string{other, overdue, old}},
			{"stuck, the customer's", Filter{Stuck: true, CustomerID: customer.String()}, []string{overdue, old}},
			{"stuck past 15 minutes", Filter{Stuck: true, OlderThan: 15 * time.Minute, CustomerID: customer.String()}, []string{overdue}},
			{"stuck past a minute", Filter{Stuck: true, OlderThan: time.Minute, CustomerID: customer.String()}, []string{overdue, old}},
			{"stuck in PAYMENT", Filter{Stuck: true, Status: Payment}, []string{overdue}},
			{"stuck in PENDING", Filter{Stuck: true, Status: Pending}, []string{other, old}},
			{"stuck and CANCELLED", Filter{Stuck: true, Status: Cancelled}, nil},
			{"stuck, created 5 minutes ago or before", Filter{Stuck: true, CreatedBefore: now().Add(-5 * time.Minute)}, []string{old}},
			{"created 5 minutes ago or before", Filter{CreatedBefore: now().Add(-5 * time.Minute)}, []string{old, ended}},
			{"created 15 minutes ago or before", Filter{CreatedBefore: now().Add(-15 * time.Minute), CustomerID: customer.String()}, []string{ended}},
			{"not stuck", Filter{CustomerID: customer.String()}, []string{overdue, fresh, old, ended}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tt.f.Page, tt.f.Size = 1, 10
				orders, total, err := svc.List(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var got, gotNames, wantNames []string
				for _, o := range orders {
					got = append(got, o.ID)
					gotNames = append(gotNames, names[o.ID])
					if (o.Step == nil) != o.Status.Terminal() {
						t.Errorf("%s in %s has step %+v", names[o.ID], o.Status, o.Step)
					}
				}
				for _, id := range tt.want {
					wantNames = append(wantNames, names[id])
				}
				if !slices.Equal(got, tt.want) || total != int64(len(tt.want)) {
					t.Errorf("got %v (total %d), want %v", gotNames, total, wantNames)
				}
			})
		}
		// Pages of the stuck ones.
		var paged []string
		for page := 1; page <= 4; page++ {
			orders, total, err := svc.List(ctx, Filter{Stuck: true, Page: page, Size: 1})
			if err != nil || total != 3 {
				t.Fatalf("page %d: total %d, %v", page, total, err)
			}
			for _, o := range orders {
				paged = append(paged, o.ID)
			}
		}
		if want := []string{other, overdue, old}; !slices.Equal(paged, want) {
			t.Errorf("stuck pages = %v, want %v", paged, want)
		}
		// The overdue one's step is the one it is stuck in.
		orders, _, _ := svc.List(ctx, Filter{Stuck: true, Status: Payment, Page: 1, Size: 10})
		if len(orders) != 1 || orders[0].Step == nil || orders[0].Step.Attempts != 1 ||
			!slices.Equal(orders[0].Step.WaitingFor, []events.Type{events.PaymentChargedType, events.PaymentDeclinedType}) ||
			!orders[0].Step.Deadline.Before(now()) {
			t.Errorf("stuck order in PAYMENT: %+v", orders)
		}
	})
}

// TestStuckListReadsOrdersInFlight: SQLite plans the stuck list and its count on the index of the
// orders in flight (orders_in_flight), whatever other filter comes with it but a customer (whose
// index is as bounded): not by walking every order, which at a million ended ones costs seconds.
func TestStuckListReadsOrdersInFlight(t *testing.T) {
	_, db := newTestService(t)
	ctx := context.Background()
	for _, f := range []Filter{{Stuck: true}, {Stuck: true, Status: Payment}, {Stuck: true, CreatedBefore: now()}} {
		where, args := f.where(now())
		for _, q := range []string{
			`SELECT COUNT(*) FROM orders` + where,
			`SELECT ` + shownColumns + ` FROM orders` + where + ` ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 0`,
		} {
			plan, err := sqlstore.Collect(ctx, db, func(r sqlstore.Scanner) (string, error) {
				var id, parent, unused int
				var detail string
				err := r.Scan(&id, &parent, &unused, &detail)
				return detail, err
			}, `EXPLAIN QUERY PLAN `+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "; ")
			if !strings.Contains(text, "orders_in_flight") && !(f.Status != "" && strings.Contains(text, "orders_status (status=?)")) {
				t.Errorf("%+v: %s\nplans as %s", f, q, text)
			}
			if strings.Contains(text, "orders_created") || slices.Contains(plan, "SCAN orders") {
				t.Errorf("%+v: %s\nplans as %s", f, q, text)
			}
		}
	}
}

// TestCounts: every status is counted, 0 when no order is in it, and the count is kept for up to
// countsMaxAge: an order made meanwhile shows once it is counted again.
func TestCounts(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		stuckOrders(t, svc, db, uuid.New())
		want := map[Status]int64{Pending: 2, Payment: 1, Inventory: 0, Fulfillment: 0, Compensating: 0,
			Completed: 0, Failed: 0, Cancelled: 1}
		got, err := svc.Counts(ctx)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("counts = %v, %v; want %v", got, err, want)
		}
		mustCreate(t, svc, "one-more", quickStart(uuid.New()))
		if got, err := svc.Counts(ctx); err != nil || !maps.Equal(got, want) {
			t.Errorf("counts within %v = %v, %v; want the ones counted before, %v", countsMaxAge, got, err, want)
		}
		got[Pending] = 99 // the caller's copy
		svc.counts.at = time.Now().Add(-countsMaxAge)
		want[Pending]++
		if got, err := svc.Counts(ctx); err != nil || !maps.Equal(got, want) {
			t.Errorf("counts after %v = %v, %v; want %v", countsMaxAge, got, err, want)
		}
	})
}
