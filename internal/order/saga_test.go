package order

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
)

// allStatuses is every order status; TestSagaTableCoversEverything checks it against order.go.
var allStatuses = []Status{Pending, Payment, Inventory, Fulfillment, Completed, Compensating, Failed, Cancelled}

// allEventTypes is every event and command type of the events package; TestSagaTableCoversEverything
// checks it against events/types.go.
var allEventTypes = []events.Type{
	events.OrderCreatedType, events.OrderCompletedType, events.OrderFailedType, events.OrderCancelledType,
	events.ChargePaymentType, events.PaymentChargedType, events.PaymentDeclinedType,
	events.RefundPaymentType, events.PaymentRefundedType,
	events.ReserveStockType, events.StockReservedType, events.StockRejectedType,
	events.ReleaseStockType, events.StockReleasedType,
	events.CreateShipmentType, events.ShipmentCreatedType, events.ShipmentFailedType,
	events.CancelShipmentType, events.ShipmentCancelledType,
}

// pseudoEvents are the things that happen to a saga without a message; TestSagaTableCoversEverything
// checks them against saga.go.
var pseudoEvents = []events.Type{cancelRequested, stepTimedOut}

// sagaInputs is everything the state machine can be handed: every event type and pseudo-event.
var sagaInputs = slices.Concat(allEventTypes, pseudoEvents)

// sagaStart is a named state the saga is in before an event.
type sagaStart struct {
	name string
	s    sagaState
}

// TestSagaTransitions is the whole state machine, written out: every status x every event type and
// pseudo-event, what state it leads to and which messages it sends. COMPENSATING is written out for
// three representative states (what is pending decides what a reply does); the attempt-dependent
// pseudo-event stepTimedOut is written out for a step with tries left and one on its last try.
//
// A row with nothing set means "nothing happens": next reports no transition and the state is
// untouched. A row whose expected state equals its start but is not marked nothing is a transition
// that changes nothing visible (the saga applies it and stores it, but sends nothing).
func TestSagaTransitions(t *testing.T) {
	const timeout = stepTimedOut
	tests, fullStarts, lastTries := sagaTransitions()

	// The table is complete: every full start has exactly one row per input, every status has a
	// full start, every COMPENSATING start is full, and the last-try starts only time out.
	rowsOf := map[string]map[events.Type]int{}
	for _, tt := range tests {
		if rowsOf[tt.from.name] == nil {
			rowsOf[tt.from.name] = map[events.Type]int{}
		}
		rowsOf[tt.from.name][tt.on]++
	}
	for _, st := range fullStarts {
		for _, in := range sagaInputs {
			if n := rowsOf[st.name][in]; n != 1 {
				t.Errorf("table has %d rows for %s x %s, want 1", n, st.name, in)
			}
		}
		if n := len(rowsOf[st.name]); n != len(sagaInputs) {
			t.Errorf("table has rows for %d inputs from %s, want %d", n, st.name, len(sagaInputs))
		}
	}
	for _, st := range lastTries {
		if st.s.Attempts != st.s.MaxAttempts {
			t.Errorf("%s: attempts %d, max %d: not a last try", st.name, st.s.Attempts, st.s.MaxAttempts)
		}
		if !maps.Equal(rowsOf[st.name], map[events.Type]int{timeout: 1}) {
			t.Errorf("table rows from %s = %v, want one for %s", st.name, rowsOf[st.name], timeout)
		}
	}
	for _, s := range allStatuses {
		if !slices.ContainsFunc(fullStarts, func(st sagaStart) bool { return st.s.Status == s }) {
			t.Errorf("no full start in status %s", s)
		}
	}
	if len(rowsOf) != len(fullStarts)+len(lastTries) {
		t.Errorf("table uses %d starts, want %d", len(rowsOf), len(fullStarts)+len(lastTries))
	}

	o := &Order{
		ID: "0190a0f2-0000-7000-8000-000000000001", CustomerID: "7f1c2b9e-3d4a-4b5c-8d6e-9f0a1b2c3d4e",
		Status: Pending, Currency: "USD", Total: dec("1022.17"),
		Address: events.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace"},
		Items:   []Item{{SKU: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")}},
	}
	for _, tt := range tests {
		t.Run(tt.from.name+"/"+string(tt.on), func(t *testing.T) {
			got, sent, ok := next(tt.from.s, tt.on, nil)
			if tt.nothing {
				if ok || got != tt.from.s || sent != nil {
					t.Fatalf("next = %+v, sends %v, ok %v; want nothing to happen", got, sent, ok)
				}
				return
			}
			if !ok {
				t.Fatalf("next: nothing happens, want %+v sending %v", tt.want, tt.send)
			}
			if got != tt.want {
				t.Errorf("next moves\n from %+v\n   to %+v\n want %+v", tt.from.s, got, tt.want)
			}
			if !slices.Equal(sent, tt.send) {
				t.Errorf("next sends %v, want %v", sent, tt.send)
			}
			// The failure reason is set when, and only when, the order ends FAILED.
			if (got.Status == Failed) != (got.FailureReason != "") {
				t.Errorf("status %s with failure reason %q", got.Status, got.FailureReason)
			}
			// Whatever the saga sends, build can make, for this order.
			for _, ty := range sent {
				p := build(ty, o, got)
				if p.EventType() != ty {
					t.Errorf("build(%s) made a %s", ty, p.EventType())
				}
				if f, ok := p.(events.OrderFailed); ok && (f.Reason != got.OutcomeReason || f.Reason == "") {
					t.Errorf("OrderFailed reason %q, outcome reason %q", f.Reason, got.OutcomeReason)
				}
			}
		})
	}
}

// TestSagaNextIgnoresStaleHistoryTag: a step's history lines are the step's own, never ones left
// over from the step before.
func TestSagaNextIgnoresStaleHistoryTag(t *testing.T) {
	s := sagaState{Status: Compensating, Charged: true, RefundPending: true, ReleasePending: true,
		Outcome: Failed, OutcomeReason: ReasonShipmentFailed, Attempts: 1, MaxAttempts: 3,
		HistoryReasonTag: "STOCK_RELEASED", UndoneTag: "PAYMENT_REFUNDED"}
	got, sent, ok := next(s, events.PaymentChargedType, nil)
	if !ok || got.HistoryReasonTag != "" || got.UndoneTag != "" || sent != nil {
		t.Errorf("next = %+v, %v, %v; want applied with no history line and nothing sent", got, sent, ok)
	}
	// A refund that was not pending is applied and changes nothing, stale tags included.
	s.RefundPending = false
	got, sent, ok = next(s, events.PaymentRefundedType, nil)
	if !ok || got.HistoryReasonTag != "" || got.UndoneTag != "" || sent != nil {
		t.Errorf("next = %+v, %v, %v; want applied with no history line and nothing sent", got, sent, ok)
	}
}

// TestSagaSubscriptions: the saga consumes exactly the replies it has rules for, from the topics
// they arrive on, and never its own commands.
func TestSagaSubscriptions(t *testing.T) {
	svc := &Service{}
	subs := svc.Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want 1", len(subs))
	}
	sub := subs[0]
	want := []events.Type{
		events.PaymentChargedType, events.PaymentDeclinedType, events.PaymentRefundedType,
		events.StockReservedType, events.StockRejectedType, events.StockReleasedType,
		events.ShipmentCreatedType, events.ShipmentFailedType, events.ShipmentCancelledType,
	}
	got := slices.Clone(sub.Types)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("subscribed types = %v, want %v", got, want)
	}
	for _, ty := range sub.Types {
		if !slices.Contains(sub.Topics, ty.Topic()) {
			t.Errorf("%s arrives on %s, which is not subscribed (%v)", ty, ty.Topic(), sub.Topics)
		}
	}
	for _, topic := range sub.Topics {
		switch topic {
		case events.TopicPaymentCommands, events.TopicInventoryCommands, events.TopicFulfillmentCommands:
			t.Errorf("subscribes to a command topic %s", topic)
		case events.TopicOrderEvents:
			t.Errorf("subscribes to its own events (%s): the first step is taken where the order is created", topic)
		}
	}
	if sub.Load == nil {
		t.Error("no handler")
	}
}

// TestSagaTableCoversEverything keeps the lists above honest: a status, event type or pseudo-event
// added to the code without rows in TestSagaTransitions fails here.
func TestSagaTableCoversEverything(t *testing.T) {
	checkSame := func(what string, got []string, listed []string) {
		t.Helper()
		slices.Sort(got)
		listed = slices.Clone(listed)
		slices.Sort(listed)
		if !slices.Equal(got, listed) {
			t.Errorf("%s in the code = %v\ntest covers %v", what, got, listed)
		}
	}
	checkSame("Status constants in order.go", constsOfType(t, "order.go", "", "Status"), strs(allStatuses))
	checkSame("Type constants in events/types.go", constsOfType(t, "../events/types.go", "", "Type"), strs(allEventTypes))
	checkSame("events.Type constants in saga.go", constsOfType(t, "saga.go", "events", "Type"), strs(pseudoEvents))

	// Every type is registered (decodable) and routed, so the list is the events package's own.
	for _, ty := range allEventTypes {
		if !events.Known(ty) || ty.Topic() == "" {
			t.Errorf("%s: known %v, topic %q", ty, events.Known(ty), ty.Topic())
		}
	}
	// And nothing in rules lies outside them.
	for from, byType := range rules {
		if !slices.Contains(allStatuses, from) {
			t.Errorf("rules has unknown status %q", from)
		}
		for ty := range byType {
			if !slices.Contains(sagaInputs, ty) {
				t.Errorf("rules[%s] has unknown type %q", from, ty)
			}
		}
	}
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// constsOfType returns the string values of the constants declared in file with the type pkg.name
// (or name, if pkg is empty).
func constsOfType(t *testing.T, file, pkg, name string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	isType := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.Ident:
			return pkg == "" && e.Name == name
		case *ast.SelectorExpr:
			x, ok := e.X.(*ast.Ident)
			return ok && x.Name == pkg && e.Sel.Name == name
		}
		return false
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if !isType(vs.Type) {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: constant of type %s is not a string literal", file, name)
				}
				out = append(out, lit.Value[1:len(lit.Value)-1])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s declares no constants of type %s", file, name)
	}
	return out
}

func TestCommandID(t *testing.T) {
	const orderA = "0190a0f2-0000-7000-8000-00000000000a"
	const orderB = "0190a0f2-0000-7000-8000-00000000000b"

	// Deterministic: the same (order, type, attempt) always gives the same id, a name-based
	// (SHA-1) UUID.
	for _, ty := range allEventTypes {
		id := commandID(orderA, ty, 1)
		if again := commandID(orderA, ty, 1); again != id {
			t.Errorf("commandID(%s, %s) = %s then %s", orderA, ty, id, again)
		}
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("commandID(%s, %s) = %q: not a UUID: %v", orderA, ty, id, err)
		}
		if u.Version() != 5 || u.Variant() != uuid.RFC4122 {
			t.Errorf("commandID(%s, %s) = %s: version %d variant %v, want a version 5 RFC 4122 UUID",
				orderA, ty, id, u.Version(), u.Variant())
		}
		if want := uuid.NewSHA1(sagaNamespace, []byte(orderA+"/"+string(ty))).String(); id != want {
			t.Errorf("commandID(%s, %s) = %s, want %s", orderA, ty, id, want)
		}
	}

	// Distinct across orders and across types: 2 orders x every type, all different.
	ids := map[string]string{}
	for _, o := range []string{orderA, orderB} {
		for _, ty := range allEventTypes {
			id := commandID(o, ty, 1)
			if prev, dup := ids[id]; dup {
				t.Errorf("commandID(%s, %s) = %s, same as %s", o, ty, id, prev)
			}
			ids[id] = o + "/" + string(ty)
		}
	}
	if len(ids) != 2*len(allEventTypes) {
		t.Errorf("got %d distinct ids, want %d", len(ids), 2*len(allEventTypes))
	}

	// Attempts: 0 (a message sent once) and 1 are the same id; each re-send after that is new.
	byAttempt := map[string]int{}
	for attempt := range 4 {
		id := commandID(orderA, events.ChargePaymentType, attempt)
		if prev, dup := byAttempt[id]; dup && !(prev <= 1 && attempt <= 1) {
			t.Errorf("commandID for attempt %d = %s, same as attempt %d", attempt, id, prev)
		}
		byAttempt[id] = attempt
	}
	if len(byAttempt) != 3 {
		t.Errorf("attempts 0 to 3 gave %d distinct ids, want 3", len(byAttempt))
	}

	// Pinned: the id of a sent command is part of the wire contract (the receivers dedupe on it), so
	// changing the namespace or the name format silently re-sends every in-flight command.
	// The literals are uuid.NewSHA1(5b0c3a52-6c1e-4d4e-9a43-6f2a0a8d2f6e, orderA+"/"+type).
	for ty, want := range map[events.Type]string{
		events.ChargePaymentType: "46a631ee-1a9a-5e3e-975d-e3b5c2129e3b",
		events.RefundPaymentType: "30a4800c-ed02-5a0e-bb92-39a18f3171ac",
	} {
		if got := commandID(orderA, ty, 1); got != want {
			t.Errorf("commandID(%s, %s) = %s, want %s", orderA, ty, got, want)
		}
	}
}
