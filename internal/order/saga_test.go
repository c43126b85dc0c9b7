package order

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
)

var allStatuses = []Status{Pending, Payment, Inventory, Fulfillment, Completed, Compensating, Failed, Cancelled}

var allTypes = []events.Type{
	events.OrderCreatedType, events.OrderCompletedType,
	events.ChargePaymentType, events.PaymentChargedType,
	events.ReserveStockType, events.StockReservedType,
	events.CreateShipmentType, events.ShipmentCreatedType,
}

// stay marks "no transition" in the table below.
const stay Status = ""

// TestSagaTransitions is the whole state machine, written out: every status x every event type.
func TestSagaTransitions(t *testing.T) {
	type (
		S = Status
		T = events.Type
	)
	const (
		created   = events.OrderCreatedType
		completed = events.OrderCompletedType
		charge    = events.ChargePaymentType
		charged   = events.PaymentChargedType
		reserve   = events.ReserveStockType
		reserved  = events.StockReservedType
		ship      = events.CreateShipmentType
		shipped   = events.ShipmentCreatedType
	)
	tests := []struct {
		from S
		on   T
		to   S // stay: the event changes nothing
		send T // type of the one message sent on a transition
	}{
		{Pending, created, Payment, charge},
		{Pending, completed, stay, ""},
		{Pending, charge, stay, ""},
		{Pending, charged, stay, ""},
		{Pending, reserve, stay, ""},
		{Pending, reserved, stay, ""},
		{Pending, ship, stay, ""},
		{Pending, shipped, stay, ""},

		{Payment, created, stay, ""},
		{Payment, completed, stay, ""},
		{Payment, charge, stay, ""},
		{Payment, charged, Inventory, reserve},
		{Payment, reserve, stay, ""},
		{Payment, reserved, stay, ""},
		{Payment, ship, stay, ""},
		{Payment, shipped, stay, ""},

		{Inventory, created, stay, ""},
		{Inventory, completed, stay, ""},
		{Inventory, charge, stay, ""},
		{Inventory, charged, stay, ""},
		{Inventory, reserve, stay, ""},
		{Inventory, reserved, Fulfillment, ship},
		{Inventory, ship, stay, ""},
		{Inventory, shipped, stay, ""},

		{Fulfillment, created, stay, ""},
		{Fulfillment, completed, stay, ""},
		{Fulfillment, charge, stay, ""},
		{Fulfillment, charged, stay, ""},
		{Fulfillment, reserve, stay, ""},
		{Fulfillment, reserved, stay, ""},
		{Fulfillment, ship, stay, ""},
		{Fulfillment, shipped, Completed, completed},

		{Completed, created, stay, ""},
		{Completed, completed, stay, ""},
		{Completed, charge, stay, ""},
		{Completed, charged, stay, ""},
		{Completed, reserve, stay, ""},
		{Completed, reserved, stay, ""},
		{Completed, ship, stay, ""},
		{Completed, shipped, stay, ""},

		{Compensating, created, stay, ""},
		{Compensating, completed, stay, ""},
		{Compensating, charge, stay, ""},
		{Compensating, charged, stay, ""},
		{Compensating, reserve, stay, ""},
		{Compensating, reserved, stay, ""},
		{Compensating, ship, stay, ""},
		{Compensating, shipped, stay, ""},

		{Failed, created, stay, ""},
		{Failed, completed, stay, ""},
		{Failed, charge, stay, ""},
		{Failed, charged, stay, ""},
		{Failed, reserve, stay, ""},
		{Failed, reserved, stay, ""},
		{Failed, ship, stay, ""},
		{Failed, shipped, stay, ""},

		{Cancelled, created, stay, ""},
		{Cancelled, completed, stay, ""},
		{Cancelled, charge, stay, ""},
		{Cancelled, charged, stay, ""},
		{Cancelled, reserve, stay, ""},
		{Cancelled, reserved, stay, ""},
		{Cancelled, ship, stay, ""},
		{Cancelled, shipped, stay, ""},
	}

	// The table must be the full cross product, each pair exactly once.
	if want := len(allStatuses) * len(allTypes); len(tests) != want {
		t.Fatalf("table has %d rows, want %d (every status x every type)", len(tests), want)
	}
	seen := map[[2]string]bool{}
	for _, tt := range tests {
		k := [2]string{string(tt.from), string(tt.on)}
		if seen[k] {
			t.Fatalf("table lists %s x %s twice", tt.from, tt.on)
		}
		seen[k] = true
	}

	o := &Order{
		ID: "0190a0f2-0000-7000-8000-000000000001", CustomerID: "7f1c2b9e-3d4a-4b5c-8d6e-9f0a1b2c3d4e",
		Status: Pending, Currency: "USD", Total: dec("1022.17"),
		Address: events.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace"},
		Items:   []Item{{SKU: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")}},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"/"+string(tt.on), func(t *testing.T) {
			st, ok := next(tt.from, tt.on)
			if tt.to == stay {
				if ok {
					t.Fatalf("next(%s, %s) = %s, want no transition", tt.from, tt.on, st.next)
				}
				return
			}
			if !ok {
				t.Fatalf("next(%s, %s): no transition, want %s", tt.from, tt.on, tt.to)
			}
			if st.next != tt.to {
				t.Errorf("next(%s, %s) moves to %s, want %s", tt.from, tt.on, st.next, tt.to)
			}
			if st.send == nil {
				t.Fatalf("next(%s, %s) sends nothing, want %s", tt.from, tt.on, tt.send)
			}
			p := st.send(o)
			if p == nil || p.EventType() != tt.send {
				t.Fatalf("next(%s, %s) sends %v, want %s", tt.from, tt.on, p, tt.send)
			}
		})
	}
}

// TestSagaTableCoversEverything keeps the lists above honest: a status or event type added to the
// code without a row in TestSagaTransitions fails here.
func TestSagaTableCoversEverything(t *testing.T) {
	gotStatuses := constsOfType(t, "order.go", "Status")
	wantStatuses := make([]string, len(allStatuses))
	for i, s := range allStatuses {
		wantStatuses[i] = string(s)
	}
	slices.Sort(gotStatuses)
	slices.Sort(wantStatuses)
	if !slices.Equal(gotStatuses, wantStatuses) {
		t.Errorf("Status constants in order.go = %v, test covers %v", gotStatuses, wantStatuses)
	}

	gotTypes := constsOfType(t, "../events/types.go", "Type")
	wantTypes := make([]string, len(allTypes))
	for i, ty := range allTypes {
		wantTypes[i] = string(ty)
	}
	slices.Sort(gotTypes)
	slices.Sort(wantTypes)
	if !slices.Equal(gotTypes, wantTypes) {
		t.Errorf("Type constants in events/types.go = %v, test covers %v", gotTypes, wantTypes)
	}

	// And nothing in transitions lies outside them.
	for from, byType := range transitions {
		if !slices.Contains(allStatuses, from) {
			t.Errorf("transitions has unknown status %q", from)
		}
		for ty, st := range byType {
			if !slices.Contains(allTypes, ty) {
				t.Errorf("transitions[%s] has unknown type %q", from, ty)
			}
			if !slices.Contains(allStatuses, st.next) {
				t.Errorf("transitions[%s][%s] moves to unknown status %q", from, ty, st.next)
			}
		}
	}
}

// constsOfType returns the string values of the constants declared with the named type in file.
func constsOfType(t *testing.T, file, typeName string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typeName {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: constant of type %s is not a string literal", file, typeName)
				}
				out = append(out, lit.Value[1:len(lit.Value)-1])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s declares no constants of type %s", file, typeName)
	}
	return out
}

func TestCommandID(t *testing.T) {
	const orderA = "0190a0f2-0000-7000-8000-00000000000a"
	const orderB = "0190a0f2-0000-7000-8000-00000000000b"

	// Deterministic: the same (order, type) always gives the same id, a name-based (SHA-1) UUID.
	for _, ty := range allTypes {
		id := commandID(orderA, ty)
		if again := commandID(orderA, ty); again != id {
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

	// Distinct across orders and across types: 2 orders x 8 types give 16 different ids.
	ids := map[string]string{}
	for _, o := range []string{orderA, orderB} {
		for _, ty := range allTypes {
			id := commandID(o, ty)
			if prev, dup := ids[id]; dup {
				t.Errorf("commandID(%s, %s) = %s, same as %s", o, ty, id, prev)
			}
			ids[id] = o + "/" + string(ty)
		}
	}
	if len(ids) != 2*len(allTypes) {
		t.Errorf("got %d distinct ids, want %d", len(ids), 2*len(allTypes))
	}

	// Pinned: the id of a sent command is part of the wire contract (the receivers dedupe on it), so
	// changing the namespace or the name format silently re-sends every in-flight command.
	if got, want := commandID(orderA, events.ChargePaymentType),
		uuid.NewSHA1(uuid.MustParse("5b0c3a52-6c1e-4d4e-9a43-6f2a0a8d2f6e"),
			[]byte(orderA+"/ordersys.payment.charge.v1")).String(); got != want {
		t.Errorf("commandID(%s, ChargePayment) = %s, want %s", orderA, got, want)
	}
}
