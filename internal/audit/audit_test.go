package audit_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/audit"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a small world in which every order ended as the saga promises: what each test then
// breaks is the only thing wrong.
type fixture struct {
	url   string // what audit.Open takes
	dbs   map[string]*sqlstore.DB
	ids   map[string]string // A..E -> order id
	stock map[string]decimal.Decimal
}

// newFixture migrates the five services' databases at dsn (one SQLite file each in its
// directory, or one schema each on PostgreSQL) and fills them.
func newFixture(t *testing.T, dsn string) *fixture {
	t.Helper()
	f := &fixture{url: dsn, dbs: map[string]*sqlstore.DB{}, ids: map[string]string{},
		stock: map[string]decimal.Decimal{"SKU-1": decimal.NewFromInt(100), "SKU-2": decimal.NewFromInt(50)}}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		f.url = "sqlite:" + filepath.Dir(path)
	}
	for name, m := range map[string]sqlstore.Migrations{"order": order.Migrations, "payment": payment.Migrations,
		"inventory": inventory.Migrations, "fulfillment": fulfillment.Migrations, "notification": notification.Migrations} {
		d := dsn
		if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
			d = "sqlite:" + filepath.Join(filepath.Dir(path), name+".db")
		}
		f.dbs[name] = storetest.Open(t, d, name, m)
	}
	for _, k := range []string{"A", "B", "C", "D", "E"} {
		f.ids[k] = uuid.NewString()
	}
	c1, c2 := uuid.NewString(), uuid.NewString()
	// A: completed. SKU-1 x2 at 10, SKU-2 x1.5 at 4.
	f.order(t, "A", c1, "COMPLETED", "26.00", "SKU-1", "2", "SKU-2", "1.5")
	f.pay(t, "A", c1, "CHARGE", "SUCCEEDED", "26.00")
	f.reserve(t, "A", "CONSUMED", "SKU-1", 2000, "SKU-2", 1500)
	f.ship(t, "A")
	f.notify(t, "A", "ORDER_COMPLETED")
	// B: cancelled in fulfillment: charged and refunded, stock released, the shipment refused.
	f.order(t, "B", c1, "CANCELLED", "5.00", "SKU-1", "1")
	f.pay(t, "B", c1, "CHARGE", "SUCCEEDED", "5.00")
	f.pay(t, "B", c1, "REFUND", "SUCCEEDED", "5.00")
	f.reserve(t, "B", "RELEASED", "SKU-1", 1000)
	f.exec(t, "fulfillment", `INSERT INTO shipment_failures (order_id, reason, country, created_at) VALUES ($1, 'CANCELLED', 'USA', $2)`,
		f.ids["B"], time.Now().UTC())
	f.notify(t, "B", "ORDER_CANCELLED")
	// C: declined.
	f.order(t, "C", c2, "FAILED", "20000.00", "SKU-2", "1")
	f.pay(t, "C", c2, "CHARGE", "DECLINED", "20000.00")
	f.notify(t, "C", "ORDER_FAILED")
	// D: out of stock: charged and refunded, the reservation rejected.
	f.order(t, "D", c2, "FAILED", "3.00", "SKU-2", "1000")
	f.pay(t, "D", c2, "CHARGE", "SUCCEEDED", "3.00")
	f.pay(t, "D", c2, "REFUND", "SUCCEEDED", "3.00")
	f.reserve(t, "D", "REJECTED")
	f.notify(t, "D", "ORDER_FAILED")
	// E: cancelled before payment: the charge slot voided, an empty released reservation.
	f.order(t, "E", c2, "CANCELLED", "7.00", "SKU-1", "1")
	f.pay(t, "E", c2, "CHARGE", "VOIDED", "0")
	f.reserve(t, "E", "RELEASED")
	f.notify(t, "E", "ORDER_CANCELLED")

	now := time.Now().UTC()
	f.exec(t, "payment", `INSERT INTO accounts (customer_id, currency, limit_e4, used_e4, updated_at) VALUES ($1, 'USD', 100000000, 260000, $2)`, c1, now)
	f.exec(t, "payment", `INSERT INTO accounts (customer_id, currency, limit_e4, used_e4, updated_at) VALUES ($1, 'USD', 100000000, 0, $2)`, c2, now)
	f.exec(t, "inventory", `INSERT INTO stock (sku, available_milli, reserved_milli, updated_at) VALUES ('SKU-1', 98000, 0, $1)`, now)
	f.exec(t, "inventory", `INSERT INTO stock (sku, available_milli, reserved_milli, updated_at) VALUES ('SKU-2', 48500, 0, $1)`, now)
	return f
}

func (f *fixture) exec(t *testing.T, service, query string, args ...any) {
	t.Helper()
	if _, err := f.dbs[service].ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %s: %v", service, query, err)
	}
}

// order inserts order k with lines given as SKU, quantity pairs.
func (f *fixture) order(t *testing.T, k, customer, status, total string, lines ...string) {
	t.Helper()
	now := time.Now().UTC()
	f.exec(t, "order", `INSERT INTO orders (id, customer_id, status, currency, total_amount, ship_country, ship_city, ship_line1, created_at, updated_at)
		VALUES ($1, $2, $3, 'USD', $4, 'USA', 'Austin', 'Lincoln, 65', $5, $5)`, f.ids[k], customer, status, total, now)
	for i := 0; i < len(lines); i += 2 {
		f.exec(t, "order", `INSERT INTO order_items (order_id, line, sku, quantity, unit_price, line_total) VALUES ($1, $2, $3, $4, '1', '1')`,
			f.ids[k], i/2+1, lines[i], lines[i+1])
	}
}

func (f *fixture) pay(t *testing.T, k, customer, kind, status, amount string) {
	t.Helper()
	f.exec(t, "payment", `INSERT INTO payments (id, order_id, customer_id, kind, amount, currency, created_at, status)
		VALUES ($1, $2, $3, $4, $5, 'USD', $6, $7)`, uuid.NewString(), f.ids[k], customer, kind, amount, time.Now().UTC(), status)
}

// reserve inserts order k's reservation with lines given as SKU, thousandths pairs.
func (f *fixture) reserve(t *testing.T, k, status string, lines ...any) {
	t.Helper()
	id := uuid.NewString()
	f.exec(t, "inventory", `INSERT INTO reservations (id, order_id, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		id, f.ids[k], status, time.Now().UTC())
	for i := 0; i < len(lines); i += 2 {
		m := lines[i+1].(int)
		f.exec(t, "inventory", `INSERT INTO reservation_lines (reservation_id, order_id, sku, quantity, quantity_milli) VALUES ($1, $2, $3, $4, $5)`,
			id, f.ids[k], lines[i], decimal.New(int64(m), -3).String(), m)
	}
}

func (f *fixture) ship(t *testing.T, k string) {
	t.Helper()
	f.shipID(t, f.ids[k])
}

func (f *fixture) shipID(t *testing.T, orderID string) {
	t.Helper()
	f.exec(t, "fulfillment", `INSERT INTO shipments (id, order_id, carrier, tracking_number, country, city, address_line1, created_at)
		VALUES ($1, $2, 'UPS', '1Z', 'USA', 'Austin', 'Lincoln, 65', $3)`, uuid.NewString(), orderID, time.Now().UTC())
}

func (f *fixture) notify(t *testing.T, k, kind string) {
	t.Helper()
	f.exec(t, "notification", `INSERT INTO notifications (id, order_id, kind, recipient, message, created_at) VALUES ($1, $2, $3, 'c', 'm', $4)`,
		uuid.NewString(), f.ids[k], kind, time.Now().UTC())
}

// dropUnique rebuilds a table without its constraints, as a schema that lost a unique key would
// be, so that a duplicate row can be inserted (CREATE TABLE ... AS copies no constraints).
func (f *fixture) dropUnique(t *testing.T, service, table string) {
	t.Helper()
	f.exec(t, service, `CREATE TABLE `+table+`_copy AS SELECT * FROM `+table)
	f.exec(t, service, `DROP TABLE `+table)
	f.exec(t, service, `ALTER TABLE `+table+`_copy RENAME TO `+table)
}

// check runs the audit through audit.Open, as the chaos tool does, with accepted orders A..E and
// extra.
func (f *fixture) check(t *testing.T, extra ...string) *audit.Report {
	t.Helper()
	s, err := audit.Open(t.Context(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accepted := extra
	for _, id := range f.ids {
		accepted = append(accepted, id)
	}
	r, err := audit.Check(t.Context(), s, audit.Input{Accepted: accepted, Stock: f.stock})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAuditCleanWorld: a world where every order ended properly passes, on both databases.
func TestAuditCleanWorld(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		r := newFixture(t, dsn).check(t)
		if !r.OK() {
			t.Fatalf("a clean world: %s\n%s", r.Summary(), r.Details(0))
		}
		if r.Orders != 5 || r.Accepted != 5 || r.Unlisted != 0 || r.Statuses["COMPLETED"] != 1 ||
			r.Statuses["FAILED"] != 2 || r.Statuses["CANCELLED"] != 2 || r.Lost+r.Stuck+r.Duplicated != 0 {
			t.Errorf("counts: %+v", r)
		}
	})
}

// TestAuditFindsViolations breaks one thing at a time in a clean world and checks that the audit
// names it, with the order (or SKU, or account) it concerns: the audit can fail.
func TestAuditFindsViolations(t *testing.T) {
	lost := uuid.NewString()
	orphan := uuid.NewString()
	for _, c := range []struct {
		name    string
		breakIt func(t *testing.T, f *fixture)
		extra   []string // accepted ids beyond A..E
		check   string
		subject string // an order key A..E, a SKU, or an order id
		counts  func(r *audit.Report) bool
	}{
		{name: "accepted order lost", extra: []string{lost}, check: audit.CheckLost, subject: lost,
			counts: func(r *audit.Report) bool { return r.Lost == 1 }},
		{name: "order stuck", check: audit.CheckStuck, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "order", `UPDATE orders SET status = 'FULFILLMENT' WHERE id = $1`, f.ids["A"])
			},
			counts: func(r *audit.Report) bool { return r.Stuck == 1 }},
		{name: "refund differs from charge", check: audit.CheckPayment, subject: "B",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "payment", `UPDATE payments SET amount = '4.00' WHERE order_id = $1 AND kind = 'REFUND'`, f.ids["B"])
			}},
		{name: "completed order refunded", check: audit.CheckPayment, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "payment", `INSERT INTO payments (id, order_id, customer_id, kind, amount, currency, created_at, status)
					SELECT 'r', order_id, customer_id, 'REFUND', amount, currency, created_at, status FROM payments WHERE order_id = $1`, f.ids["A"])
			}},
		{name: "cancelled order never refunded", check: audit.CheckPayment, subject: "B",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "payment", `DELETE FROM payments WHERE order_id = $1 AND kind = 'REFUND'`, f.ids["B"])
			}},
		{name: "charged twice", check: audit.CheckDuplicate, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.dropUnique(t, "payment", "payments")
				f.exec(t, "payment", `INSERT INTO payments (id, order_id, customer_id, kind, amount, currency, created_at, status, reason)
					SELECT 'again', order_id, customer_id, kind, amount, currency, created_at, status, reason FROM payments WHERE order_id = $1`, f.ids["A"])
			},
			counts: func(r *audit.Report) bool { return r.Duplicated == 1 }},
		{name: "shipped twice", check: audit.CheckDuplicate, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.dropUnique(t, "fulfillment", "shipments")
				f.ship(t, "A")
			},
			counts: func(r *audit.Report) bool { return r.Duplicated == 1 }},
		{name: "cancelled order shipped", check: audit.CheckShipment, subject: "B",
			breakIt: func(t *testing.T, f *fixture) { f.ship(t, "B") }},
		{name: "completed order not shipped", check: audit.CheckShipment, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "fulfillment", `DELETE FROM shipments WHERE order_id = $1`, f.ids["A"])
			}},
		{name: "two outcomes notified", check: audit.CheckDuplicate, subject: "A",
			breakIt: func(t *testing.T, f *fixture) { f.notify(t, "A", "ORDER_CANCELLED") },
			counts:  func(r *audit.Report) bool { return r.Duplicated == 1 }},
		{name: "outcome not notified", check: audit.CheckNotification, subject: "C",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "notification", `DELETE FROM notifications WHERE order_id = $1`, f.ids["C"])
			}},
		{name: "released stock not returned", check: audit.CheckStock, subject: "SKU-1",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "inventory", `UPDATE stock SET available_milli = available_milli - 1000 WHERE sku = 'SKU-1'`)
			}},
		{name: "stock held for a cancelled order", check: audit.CheckReservation, subject: "B",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "inventory", `UPDATE reservations SET status = 'RESERVED' WHERE order_id = $1`, f.ids["B"])
				f.exec(t, "inventory", `UPDATE stock SET available_milli = available_milli - 1000, reserved_milli = reserved_milli + 1000 WHERE sku = 'SKU-1'`)
			}},
		{name: "reserved column disagrees with reservations", check: audit.CheckStock, subject: "SKU-2",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "inventory", `UPDATE stock SET available_milli = available_milli - 5, reserved_milli = 5 WHERE sku = 'SKU-2'`)
			}},
		{name: "completed order's stock not consumed", check: audit.CheckReservation, subject: "A",
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "inventory", `UPDATE reservations SET status = 'RESERVED' WHERE order_id = $1`, f.ids["A"])
				f.exec(t, "inventory", `UPDATE stock SET reserved_milli = 2000 WHERE sku = 'SKU-1'`)
				f.exec(t, "inventory", `UPDATE stock SET reserved_milli = 1500 WHERE sku = 'SKU-2'`)
			}},
		{name: "credit used off by a ten-thousandth", check: audit.CheckBalance,
			breakIt: func(t *testing.T, f *fixture) {
				f.exec(t, "payment", `UPDATE accounts SET used_e4 = used_e4 + 1 WHERE used_e4 > 0`)
			}},
		{name: "effect for an order that does not exist", check: audit.CheckOrphan, subject: orphan,
			breakIt: func(t *testing.T, f *fixture) { f.shipID(t, orphan) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.EachDSN(t, func(t *testing.T, dsn string) {
				f := newFixture(t, dsn)
				if c.breakIt != nil {
					c.breakIt(t, f)
				}
				r := f.check(t, c.extra...)
				subject := c.subject
				if id, ok := f.ids[subject]; ok {
					subject = id
				}
				if !slices.ContainsFunc(r.Violations, func(v audit.Violation) bool {
					return v.Check == c.check && (subject == "" || v.Subject == subject)
				}) {
					t.Errorf("no %s violation for %s; got %s\n%s", c.check, subject, r.Summary(), r.Details(0))
				}
				if r.OK() {
					t.Error("the report says OK")
				}
				if c.counts != nil && !c.counts(r) {
					t.Errorf("counts: %s", r.Summary())
				}
				t.Logf("%s", r.Details(0))
			})
		})
	}
}
