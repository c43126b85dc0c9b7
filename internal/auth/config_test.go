package auth_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ordersys/ordersys/internal/auth"
)

// TestJWTConfigRefusals: a verifier is not made from settings that would trust too much.
func TestJWTConfigRefusals(t *testing.T) {
	ok := auth.JWTConfig{JWKSURL: "https://idp.example/jwks", Issuer: "https://idp.example", Audience: "ordersys"}
	for _, c := range []struct {
		name string
		edit func(*auth.JWTConfig)
		want string
	}{
		{"no keys", func(c *auth.JWTConfig) { c.JWKSURL = "" }, "--jwt-jwks-url or --jwt-jwks-file"},
		{"two sources", func(c *auth.JWTConfig) { c.JWKSFile = "keys.json" }, "give one"},
		{"no issuer", func(c *auth.JWTConfig) { c.Issuer = "" }, "--jwt-issuer and --jwt-audience"},
		{"no audience", func(c *auth.JWTConfig) { c.Audience = "" }, "--jwt-issuer and --jwt-audience"},
		{"plain http", func(c *auth.JWTConfig) { c.JWKSURL = "http://idp.example/jwks" }, "want https"},
		{"too much leeway", func(c *auth.JWTConfig) { c.Leeway = 2 * 60e9 }, "leeway"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := auth.NewVerifier(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it refused saying %q", c.name, err, c.want)
		}
	}
}

// TestTokenMustNameItsKey: a token without a kid is refused, though a key of the set signed it.
func TestTokenMustNameItsKey(t *testing.T) {
	key, err := auth.LoadDevKey(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.Verifier(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	token, err := key.SignWithoutKID("0b6e3c1e-8f7a-4c5e-9d7e-1a2b3c4d5e6f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), token); err == nil || !strings.Contains(err.Error(), "kid") {
		t.Errorf("a token without a kid: %v, want it refused", err)
	}
}
