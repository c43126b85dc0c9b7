package auth_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ordersys/ordersys/internal/auth"
)

// TestPrincipal: a customer sees its own and is limited to itself, an admin and Anyone see
// everyone, and a context without a principal is nobody, who sees no one.
func TestPrincipal(t *testing.T) {
	const a, b = "0b6e3c1e-8f7a-4c5e-9d7e-1a2b3c4d5e6f", "7c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
	customer := auth.Principal{Subject: a, Scopes: []string{auth.ScopeRead}}
	admin := auth.Principal{Subject: b, Scopes: []string{auth.ScopeAdmin}}
	nobody := auth.FromContext(context.Background())
	for _, c := range []struct {
		name     string
		p        auth.Principal
		seesA    bool
		only     string
		limited  bool
		keyScope string
		writes   bool
		isAdmin  bool
	}{
		{"customer", customer, true, a, true, a, false, false},
		{"admin", admin, true, "", false, b, false, true},
		{"anyone", auth.Anyone, true, "", false, "", true, true},
		{"nobody", nobody, false, "", true, "", false, false},
	} {
		only, limited := c.p.Customer()
		if c.p.Sees(a) != c.seesA || only != c.only || limited != c.limited || c.p.KeyScope() != c.keyScope ||
			c.p.Has(auth.ScopeWrite) != c.writes || c.p.Admin() != c.isAdmin {
			t.Errorf("%s: sees A %v, customer %q %v, key scope %q, writes %v, admin %v", c.name, c.p.Sees(a),
				only, limited, c.p.KeyScope(), c.p.Has(auth.ScopeWrite), c.p.Admin())
		}
	}
	if customer.Sees(b) || nobody.Sees("") {
		t.Error("a customer sees another, or nobody sees the empty customer")
	}
	ctx := auth.NewContext(context.Background(), customer)
	if got := auth.FromContext(ctx); got.Subject != a {
		t.Errorf("context carries %+v", got)
	}
}

// TestScpClaim: "scp" is an array at some providers and a space-separated string at others.
func TestScpClaim(t *testing.T) {
	for _, raw := range []string{`{"scp":["orders:read","orders:write"]}`, `{"scp":"orders:read orders:write"}`} {
		var c struct {
			Scp auth.ScpClaim `json:"scp"`
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil || len(c.Scp) != 2 || c.Scp[1] != auth.ScopeWrite {
			t.Errorf("%s: %q, %v", raw, c.Scp, err)
		}
	}
	var c struct {
		Scp auth.ScpClaim `json:"scp"`
	}
	if err := json.Unmarshal([]byte(`{"scp":7}`), &c); err == nil {
		t.Error(`"scp": 7 was accepted`)
	}
}
