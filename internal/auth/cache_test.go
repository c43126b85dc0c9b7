package auth_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/auth"
)

// TestVerifierCache: a token checked once is remembered, with its principal, while it is valid; a
// refused one is not; and the cache stays bounded however many tokens come.
func TestVerifierCache(t *testing.T) {
	key, err := auth.LoadDevKey(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.Verifier(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const sub = "0b6e3c1e-8f7a-4c5e-9d7e-1a2b3c4d5e6f"
	token, err := key.Mint(sub, []string{auth.ScopeRead}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if p, err := v.Verify(t.Context(), token); err != nil || p.Subject != sub || !p.Has(auth.ScopeRead) {
			t.Fatalf("verify: %+v, %v", p, err)
		}
	}
	if n := v.Cached(); n != 1 {
		t.Errorf("%d tokens cached after one token thrice, want 1", n)
	}
	if _, err := v.Verify(t.Context(), token+"x"); err == nil {
		t.Fatal("a tampered token was accepted")
	}
	if _, err := v.Verify(t.Context(), token+"x"); err == nil {
		t.Fatal("a tampered token was accepted the second time")
	}
	if n := v.Cached(); n != 1 {
		t.Errorf("%d tokens cached after a refused one, want 1", n)
	}
	v.FillCache(20_000, time.Hour)
	if n := v.Cached(); n > 10_000 {
		t.Errorf("%d tokens cached, want at most 10,000", n)
	}
}
