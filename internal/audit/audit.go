// Package audit checks, straight from each service's tables, that orders ended the way the saga
// promises: every order terminal, each side effect applied once and in balance, stock and credit
// conserved, and no accepted order lost. Tests run it after crashes; `ordersys chaos` runs it
// after its faults.
//
// It reads the services' own schemas (internal/*/migrations) with plain SELECTs that SQLite and
// PostgreSQL both run, one database at a time, and joins the rows in memory: services never share
// tables, and in dev they are not even in one file.
package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Stores are the five services' databases.
type Stores struct {
	Order, Payment, Inventory, Fulfillment, Notification *sqlstore.DB
}

// Open opens the services' databases at url as the processes that run them do: "sqlite:DIR" is a
// directory of one SQLite file per service (dev's --data-dir, or serve's sqlite:DIR), anything else
// a PostgreSQL URL where each service keeps its tables in a schema named after it.
func Open(ctx context.Context, url string) (*Stores, error) {
	s := &Stores{}
	for _, p := range s.each() {
		dsn := url
		if dir, ok := strings.CutPrefix(url, "sqlite:"); ok {
			dsn = "sqlite:" + filepath.Join(dir, p.name+".db")
		}
		db, err := sqlstore.OpenService(ctx, dsn, p.name)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("audit: open %s: %w", p.name, err)
		}
		*p.db = db
	}
	return s, nil
}

type namedDB struct {
	name string
	db   **sqlstore.DB
}

func (s *Stores) each() []namedDB {
	return []namedDB{{"order", &s.Order}, {"payment", &s.Payment}, {"inventory", &s.Inventory},
		{"fulfillment", &s.Fulfillment}, {"notification", &s.Notification}}
}

// Close closes every database that is open.
func (s *Stores) Close() error {
	var errs []error
	for _, p := range s.each() {
		if *p.db != nil {
			errs = append(errs, (*p.db).Close())
			*p.db = nil
		}
	}
	return errors.Join(errs...)
}

// Input is what the audit checks the databases against.
type Input struct {
	// Accepted are the ids of the orders the API answered 201 for: each must exist.
	Accepted []string
	// Stock is what each SKU had before any order (inventory.DemoCatalog where the catalog was
	// seeded and never set since). A SKU not listed is checked for what its reservations hold only.
	Stock map[string]decimal.Decimal
}

// Checks, the Check of a Violation.
const (
	CheckLost         = "lost"         // an accepted order is not in the order table
	CheckStuck        = "stuck"        // an order has not ended
	CheckDuplicate    = "duplicate"    // an effect applied more than once
	CheckPayment      = "payment"      // charges and refunds that do not fit the outcome
	CheckBalance      = "balance"      // a credit account that does not match its payments
	CheckReservation  = "reservation"  // a reservation that does not fit the outcome
	CheckStock        = "stock"        // a SKU's stock that does not add up
	CheckShipment     = "shipment"     // shipments that do not fit the outcome
	CheckNotification = "notification" // messages that do not fit the outcome
	CheckOrphan       = "orphan"       // an effect for an order that does not exist
)

// Violation is one thing found wrong.
type Violation struct {
	Check   string
	Subject string // the order id; for stock the SKU, for balance the account
	Detail  string
}

func (v Violation) String() string { return v.Check + " " + v.Subject + ": " + v.Detail }

// Report is what the audit found.
type Report struct {
	Orders   int            // orders in the order table
	Accepted int            // distinct accepted ids checked
	Unlisted int            // orders in the table that are not among the accepted ids
	Statuses map[string]int // orders by status
	// Lost accepted orders, Stuck (not terminal) orders, and orders with an effect Duplicated;
	// each also has its violations.
	Lost, Stuck, Duplicated int
	Violations              []Violation
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Summary is the report in one line.
func (r *Report) Summary() string {
	return fmt.Sprintf("orders %d (completed %d, failed %d, cancelled %d), accepted %d, lost %d, stuck %d, duplicated %d, violations %d",
		r.Orders, r.Statuses[completed], r.Statuses[failed], r.Statuses[cancelled], r.Accepted,
		r.Lost, r.Stuck, r.Duplicated, len(r.Violations))
}

// Details lists the violations, at most limit of each check (0: all), one a line.
func (r *Report) Details(limit int) string {
	var b strings.Builder
	shown := map[string]int{}
	for _, v := range r.Violations {
		shown[v.Check]++
		if limit > 0 && shown[v.Check] > limit {
			continue
		}
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	for _, check := range slices.Sorted(maps.Keys(shown)) {
		if n := shown[check]; limit > 0 && n > limit {
			fmt.Fprintf(&b, "... and %d more %s violations\n", n-limit, check)
		}
	}
	return b.String()
}

// Order statuses that end an order, as the order service stores them.
const (
	completed = "COMPLETED"
	failed    = "FAILED"
	cancelled = "CANCELLED"
)

// Notification kinds by the outcome they tell of.
var notificationKind = map[string]string{
	completed: "ORDER_COMPLETED",
	failed:    "ORDER_FAILED",
	cancelled: "ORDER_CANCELLED",
}

// Check audits the databases. An error means a database could not be read; what is wrong with
// the data is in the report.
func Check(ctx context.Context, s *Stores, in Input) (*Report, error) {
	w, err := read(ctx, s)
	if err != nil {
		return nil, err
	}
	return w.audit(in), nil
}

// world is every row the audit looks at.
type world struct {
	orders    map[string]*orderRow
	orderIDs  []string // in the order the table gave them, for a stable report
	payments  map[string][]paymentRow
	accounts  map[account]decimal.Decimal // credit used
	reserves  map[string][]reservationRow
	stock     map[string]stockRow
	shipments map[string]int
	refusals  map[string][]string // shipment_failures reasons
	notes     map[string][]string // notification kinds
}

type orderRow struct {
	id, customer, status, currency string
	total                          decimal.Decimal
	items                          map[string]int64 // SKU -> thousandths
}

type paymentRow struct {
	customer, kind, status, currency string
	amount                           decimal.Decimal
}

type account struct{ customer, currency string }

type reservationRow struct {
	id, status string
	lines      map[string]int64 // SKU -> thousandths
}

type stockRow struct{ available, reserved int64 }

func read(ctx context.Context, s *Stores) (*world, error) {
	w := &world{orders: map[string]*orderRow{}, payments: map[string][]paymentRow{}, accounts: map[account]decimal.Decimal{},
		reserves: map[string][]reservationRow{}, stock: map[string]stockRow{}, shipments: map[string]int{},
		refusals: map[string][]string{}, notes: map[string][]string{}}
	reservationOrder := map[string]string{} // reservation id -> order id
	lines := map[string]map[string]int64{}  // reservation id -> its lines
	steps := []struct {
		db    *sqlstore.DB
		query string
		scan  func(sqlstore.Scanner) error
	}{
		{s.Order, `SELECT id, customer_id, status, currency, total_amount FROM orders`, func(r sqlstore.Scanner) error {
			o := &orderRow{items: map[string]int64{}}
			var total string
			if err := r.Scan(&o.id, &o.customer, &o.status, &o.currency, &total); err != nil {
				return err
			}
			var err error
			if o.total, err = decimal.NewFromString(total); err != nil {
				return fmt.Errorf("order %s total %q: %w", o.id, total, err)
			}
			w.orders[o.id] = o
			w.orderIDs = append(w.orderIDs, o.id)
			return nil
		}},
		{s.Order, `SELECT order_id, sku, quantity FROM order_items`, func(r sqlstore.Scanner) error {
			var id, sku, q string
			if err := r.Scan(&id, &sku, &q); err != nil {
				return err
			}
			milli, err := thousandths(q)
			if err != nil {
				return fmt.Errorf("order %s item %s quantity %q: %w", id, sku, q, err)
			}
			if o := w.orders[id]; o != nil {
				o.items[sku] += milli
			}
			return nil
		}},
		{s.Payment, `SELECT order_id, customer_id, kind, status, amount, currency FROM payments`, func(r sqlstore.Scanner) error {
			var id, amount string
			var p paymentRow
			if err := r.Scan(&id, &p.customer, &p.kind, &p.status, &amount, &p.currency); err != nil {
				return err
			}
			var err error
			if p.amount, err = decimal.NewFromString(amount); err != nil {
				return fmt.Errorf("payment of order %s amount %q: %w", id, amount, err)
			}
			w.payments[id] = append(w.payments[id], p)
			return nil
		}},
		{s.Payment, `SELECT customer_id, currency, used_e4 FROM accounts`, func(r sqlstore.Scanner) error {
			var a account
			var used int64
			if err := r.Scan(&a.customer, &a.currency, &used); err != nil {
				return err
			}
			w.accounts[a] = decimal.New(used, -4)
			return nil
		}},
		{s.Inventory, `SELECT id, order_id, status FROM reservations`, func(r sqlstore.Scanner) error {
			var id, orderID, status string
			if err := r.Scan(&id, &orderID, &status); err != nil {
				return err
			}
			reservationOrder[id] = orderID
			w.reserves[orderID] = append(w.reserves[orderID], reservationRow{id: id, status: status})
			return nil
		}},
		{s.Inventory, `SELECT reservation_id, sku, quantity_milli FROM reservation_lines`, func(r sqlstore.Scanner) error {
			var id, sku string
			var milli sql.NullInt64 // NULL: a line from before stock was kept, which held none
			if err := r.Scan(&id, &sku, &milli); err != nil {
				return err
			}
			if lines[id] == nil {
				lines[id] = map[string]int64{}
			}
			lines[id][sku] += milli.Int64
			return nil
		}},
		{s.Inventory, `SELECT sku, available_milli, reserved_milli FROM stock`, func(r sqlstore.Scanner) error {
			var sku string
			var st stockRow
			if err := r.Scan(&sku, &st.available, &st.reserved); err != nil {
				return err
			}
			w.stock[sku] = st
			return nil
		}},
		{s.Fulfillment, `SELECT order_id FROM shipments`, func(r sqlstore.Scanner) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			w.shipments[id]++
			return nil
		}},
		{s.Fulfillment, `SELECT order_id, reason FROM shipment_failures`, func(r sqlstore.Scanner) error {
			var id, reason string
			if err := r.Scan(&id, &reason); err != nil {
				return err
			}
			w.refusals[id] = append(w.refusals[id], reason)
			return nil
		}},
		{s.Notification, `SELECT order_id, kind FROM notifications`, func(r sqlstore.Scanner) error {
			var id, kind string
			if err := r.Scan(&id, &kind); err != nil {
				return err
			}
			w.notes[id] = append(w.notes[id], kind)
			return nil
		}},
	}
	for _, st := range steps {
		if st.db == nil {
			return nil, fmt.Errorf("audit: no database for %q", st.query)
		}
		if _, err := sqlstore.Collect(ctx, st.db, func(r sqlstore.Scanner) (struct{}, error) {
			return struct{}{}, st.scan(r)
		}, st.query); err != nil {
			return nil, fmt.Errorf("audit: %s: %w", st.query, err)
		}
	}
	for id, l := range lines {
		orderID, ok := reservationOrder[id]
		if !ok {
			continue // a line of no reservation: the schema's foreign key forbids it
		}
		for i := range w.reserves[orderID] {
			if w.reserves[orderID][i].id == id {
				w.reserves[orderID][i].lines = l
			}
		}
	}
	return w, nil
}

// thousandths is a decimal quantity in whole thousandths, as inventory keeps stock.
func thousandths(q string) (int64, error) {
	d, err := decimal.NewFromString(q)
	if err != nil {
		return 0, err
	}
	m := d.Shift(3)
	if !m.IsInteger() {
		return 0, errors.New("more than 3 fraction digits")
	}
	return m.IntPart(), nil
}

// auditor collects violations.
type auditor struct {
	r    *Report
	dups map[string]bool // orders with a duplicated effect
}

func (a *auditor) add(check, subject, format string, args ...any) {
	a.r.Violations = append(a.r.Violations, Violation{Check: check, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

func (a *auditor) dup(orderID, format string, args ...any) {
	a.dups[orderID] = true
	a.add(CheckDuplicate, orderID, format, args...)
}

func (w *world) audit(in Input) *Report {
	a := &auditor{r: &Report{Orders: len(w.orders), Statuses: map[string]int{}}, dups: map[string]bool{}}
	accepted := map[string]bool{}
	for _, id := range in.Accepted {
		if accepted[id] {
			continue
		}
		accepted[id] = true
		a.r.Accepted++
		if w.orders[id] == nil {
			a.r.Lost++
			a.add(CheckLost, id, "accepted (201) but not in the order table")
		}
	}
	for _, id := range w.orderIDs {
		o := w.orders[id]
		a.r.Statuses[o.status]++
		if !accepted[id] {
			a.r.Unlisted++
		}
		w.duplicates(a, o)
		if _, terminal := notificationKind[o.status]; !terminal {
			a.r.Stuck++
			a.add(CheckStuck, id, "still %s", o.status)
			continue // its effects may be half done, and rightly so
		}
		w.checkPayments(a, o)
		w.checkReservation(a, o)
		w.checkShipment(a, o)
		w.checkNotifications(a, o)
	}
	w.orphans(a)
	w.checkBalances(a)
	w.checkStock(a, in.Stock)
	a.r.Duplicated = len(a.dups)
	// Map order would shuffle the report from one run to the next.
	slices.SortStableFunc(a.r.Violations, func(x, y Violation) int {
		return cmp.Or(strings.Compare(x.Check, y.Check), strings.Compare(x.Subject, y.Subject))
	})
	return a.r
}

// duplicates flags an order with more than one row of an effect the services make once per
// order. The schemas' unique keys forbid most of these; the audit does not rely on them.
func (w *world) duplicates(a *auditor, o *orderRow) {
	kinds := map[string]int{}
	for _, p := range w.payments[o.id] {
		kinds[p.kind]++
	}
	for kind, n := range kinds {
		if n > 1 {
			a.dup(o.id, "%d %s payments rows", n, kind)
		}
	}
	if n := len(w.reserves[o.id]); n > 1 {
		a.dup(o.id, "%d reservations", n)
	}
	if n := w.shipments[o.id]; n > 1 {
		a.dup(o.id, "%d shipments", n)
	}
	if n := len(w.notes[o.id]); n > 1 {
		a.dup(o.id, "%d notifications (%s): one outcome, one message", n, strings.Join(w.notes[o.id], ", "))
	}
}

// checkPayments: a COMPLETED order was charged its total and not refunded; a FAILED or
// CANCELLED one was never charged, or was charged its total and refunded the same.
func (w *world) checkPayments(a *auditor, o *orderRow) {
	var charges, refunds []paymentRow
	for _, p := range w.payments[o.id] {
		switch {
		case p.kind != "CHARGE" && p.kind != "REFUND":
			a.add(CheckPayment, o.id, "payment of unknown kind %q", p.kind)
		case p.status != "SUCCEEDED": // declined or voided: no money moved
		case p.kind == "CHARGE":
			charges = append(charges, p)
		default:
			refunds = append(refunds, p)
		}
	}
	for _, c := range charges {
		if !c.amount.Equal(o.total) || accountCurrency(c.currency) != accountCurrency(o.currency) || c.customer != o.customer {
			a.add(CheckPayment, o.id, "charged %s %s to %s; the order is %s %s of %s",
				c.amount, c.currency, c.customer, o.total, o.currency, o.customer)
		}
	}
	charged, refunded := sum(charges), sum(refunds)
	switch {
	case o.status == completed && (len(charges) != 1 || len(refunds) != 0):
		a.add(CheckPayment, o.id, "COMPLETED with %d charges and %d refunds, want one charge and no refund", len(charges), len(refunds))
	case o.status != completed && len(charges) == 0 && len(refunds) > 0:
		a.add(CheckPayment, o.id, "%s: refunded %s without a charge", o.status, refunded)
	case o.status != completed && len(charges) > 0 && !charged.Equal(refunded):
		a.add(CheckPayment, o.id, "%s: charged %s, refunded %s", o.status, charged, refunded)
	}
}

func sum(ps []paymentRow) decimal.Decimal {
	var s decimal.Decimal
	for _, p := range ps {
		s = s.Add(p.amount)
	}
	return s
}

// accountCurrency is a currency as the payment service keys accounts by it.
func accountCurrency(c string) string { return strings.ToUpper(strings.TrimSpace(c)) }

// checkBalances: each customer's credit used is what their charges took, less what their
// refunds gave back.
func (w *world) checkBalances(a *auditor) {
	net := map[account]decimal.Decimal{}
	for _, ps := range w.payments {
		for _, p := range ps {
			if p.status != "SUCCEEDED" {
				continue
			}
			k := account{p.customer, accountCurrency(p.currency)}
			if p.kind == "REFUND" {
				net[k] = net[k].Sub(p.amount)
			} else {
				net[k] = net[k].Add(p.amount)
			}
		}
	}
	for k, used := range w.accounts {
		if want := net[k]; !used.Equal(want) {
			a.add(CheckBalance, k.customer+" "+k.currency, "credit used %s, charges less refunds %s", used, want)
		}
	}
	for k, want := range net {
		if _, ok := w.accounts[k]; !ok && !want.IsZero() {
			a.add(CheckBalance, k.customer+" "+k.currency, "no account, charges less refunds %s", want)
		}
	}
}

// checkReservation: a COMPLETED order's stock was reserved, all of it, and consumed; a FAILED or
// CANCELLED one holds none and took none.
func (w *world) checkReservation(a *auditor, o *orderRow) {
	rs := w.reserves[o.id]
	if o.status == completed {
		if len(rs) == 0 {
			a.add(CheckReservation, o.id, "COMPLETED without a reservation")
			return
		}
		for _, r := range rs {
			if r.status != "CONSUMED" {
				a.add(CheckReservation, o.id, "COMPLETED, its reservation %s", r.status)
			}
			if !sameLines(r.lines, o.items) {
				a.add(CheckReservation, o.id, "reservation holds %v thousandths, the order has %v", r.lines, o.items)
			}
		}
		return
	}
	for _, r := range rs {
		if r.status == "RESERVED" || r.status == "CONSUMED" {
			a.add(CheckReservation, o.id, "%s, and its reservation is %s", o.status, r.status)
		}
	}
}

func sameLines(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkStock: per SKU, what reservations hold is what the stock row says is reserved, and what
// is available, held and consumed by completed orders adds up to what there was.
func (w *world) checkStock(a *auditor, initial map[string]decimal.Decimal) {
	held, consumed := map[string]int64{}, map[string]int64{}
	for _, rs := range w.reserves {
		for _, r := range rs {
			for sku, m := range r.lines {
				switch r.status {
				case "RESERVED":
					held[sku] += m
				case "CONSUMED":
					consumed[sku] += m
				}
				if _, ok := w.stock[sku]; !ok && (r.status == "RESERVED" || r.status == "CONSUMED") {
					a.add(CheckStock, sku, "reservation %s holds %d thousandths of a SKU with no stock row", r.id, m)
				}
			}
		}
	}
	for sku, st := range w.stock {
		if st.reserved != held[sku] {
			a.add(CheckStock, sku, "reserved %s, reservations hold %s", milli(st.reserved), milli(held[sku]))
		}
		if q, ok := initial[sku]; ok {
			if total := st.available + st.reserved + consumed[sku]; !milli(total).Equal(q) {
				a.add(CheckStock, sku, "available %s + reserved %s + consumed %s = %s, stocked %s",
					milli(st.available), milli(st.reserved), milli(consumed[sku]), milli(total), q)
			}
		}
	}
	for sku := range initial {
		if _, ok := w.stock[sku]; !ok {
			a.add(CheckStock, sku, "stocked, but no stock row")
		}
	}
}

func milli(m int64) decimal.Decimal { return decimal.New(m, -3) }

// checkShipment: a COMPLETED order shipped once; a FAILED or CANCELLED one never.
func (w *world) checkShipment(a *auditor, o *orderRow) {
	n := w.shipments[o.id]
	switch {
	case o.status == completed && n == 0:
		a.add(CheckShipment, o.id, "COMPLETED without a shipment")
	case o.status != completed && n > 0:
		a.add(CheckShipment, o.id, "%s, yet shipped", o.status)
	}
	if n > 0 && len(w.refusals[o.id]) > 0 {
		a.add(CheckShipment, o.id, "shipped, and also refused (%s)", strings.Join(w.refusals[o.id], ", "))
	}
}

// checkNotifications: one message, telling of the outcome the order had.
func (w *world) checkNotifications(a *auditor, o *orderRow) {
	want := notificationKind[o.status]
	found := false
	for _, kind := range w.notes[o.id] {
		if kind == want {
			found = true
		} else {
			a.add(CheckNotification, o.id, "%s, notified %s", o.status, kind)
		}
	}
	if !found {
		a.add(CheckNotification, o.id, "%s, no %s message", o.status, want)
	}
}

// orphans flags effects for orders the order table does not have.
func (w *world) orphans(a *auditor) {
	seen := map[string]bool{}
	flag := func(id, what string) {
		if w.orders[id] == nil && !seen[id+what] {
			seen[id+what] = true
			a.add(CheckOrphan, id, "%s for an order that does not exist", what)
		}
	}
	for id := range w.payments {
		flag(id, "payments")
	}
	for id := range w.reserves {
		flag(id, "a reservation")
	}
	for id := range w.shipments {
		flag(id, "a shipment")
	}
	for id := range w.refusals {
		flag(id, "a shipment refusal")
	}
	for id := range w.notes {
		flag(id, "notifications")
	}
}
