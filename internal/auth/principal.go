// Package auth says who makes a request and what they may do. A request carries a Principal in
// its context: a customer (the subject of a bearer token) with the scopes the token grants, or,
// with authentication off, Anyone. The services ask the Principal; only the HTTP layer knows tokens.
package auth

import (
	"context"
	"slices"
)

// The scopes a token grants (its "scope" or "scp" claim).
const (
	ScopeRead  = "orders:read"    // read one's own orders, and what the services did with them
	ScopeWrite = "orders:write"   // place and cancel one's own orders
	ScopeAdmin = "ordersys:admin" // everything, for every customer, and the operator's API
)

// Principal is who makes a request. The zero Principal is nobody: it may do nothing.
type Principal struct {
	// Subject is the token's "sub": for a customer, its id (a UUID, in canonical form).
	Subject string
	Scopes  []string
	anyone  bool
}

// Anyone is every caller when authentication is off: it may do everything, for every customer,
// as before ordersys had authentication.
var Anyone = Principal{anyone: true}

// Has reports whether p was granted scope.
func (p Principal) Has(scope string) bool { return p.anyone || slices.Contains(p.Scopes, scope) }

// Admin reports whether p may act for every customer.
func (p Principal) Admin() bool { return p.Has(ScopeAdmin) }

// Sees reports whether p may see and act on what belongs to customer.
func (p Principal) Sees(customer string) bool {
	return p.Admin() || (p.Subject != "" && p.Subject == customer)
}

// Customer is the one customer whose things p is limited to, and whether p is limited at all: an
// admin, and Anyone, see every customer (""; false). Nobody is limited to no customer ("", true).
func (p Principal) Customer() (customer string, limited bool) {
	if p.Admin() {
		return "", false
	}
	return p.Subject, true
}

// KeyScope is the part of an Idempotency-Key's scope that is the caller's: two principals that
// send the same key make two requests. Anyone's is "", which leaves keys as they were before.
func (p Principal) KeyScope() string {
	if p.anyone {
		return ""
	}
	return p.Subject
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext is the Principal that ctx carries; nobody when it carries none, so that a path that
// forgot to authenticate fails closed.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
