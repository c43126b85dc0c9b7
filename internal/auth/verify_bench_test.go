package auth_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/auth"
)

// BenchmarkVerify is the cost auth adds to a request (go test -bench Verify ./internal/auth/):
// checking an EdDSA token of the development key the first time ("new"), and again ("again",
// from the cache).
func BenchmarkVerify(b *testing.B) {
	key, err := auth.LoadDevKey(filepath.Join(b.TempDir(), "data"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := key.Verifier(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	mint := func() string { // a customer of its own: Ed25519 signs alike claims alike
		token, err := key.Mint(uuid.NewString(), []string{auth.ScopeRead, auth.ScopeWrite}, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return token
	}
	b.Run("new", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i] = mint()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := v.Verify(context.Background(), tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		token := mint()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
