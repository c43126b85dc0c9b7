package app

import (
	"context"
	"fmt"
	"time"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/httpx"
)

// The values of --auth.
const (
	authNone = "none"
	authJWT  = "jwt"
)

// AuthConfig is who may call a process's API, and how often.
type AuthConfig struct {
	// Mode is "jwt" (bearer tokens, checked with JWT) or "none" (anyone may do anything); empty
	// is none.
	Mode string
	JWT  auth.JWTConfig
	// RateLimit is per caller (a token's subject, else an address); off when its RPS is 0.
	RateLimit httpx.RateLimit
}

func authFlags(fs *flagSet, cfg *AuthConfig, mode string) {
	fs.String(&cfg.Mode, "auth", mode, "who may call the API: jwt (bearer tokens, see the --jwt flags) or none (anyone)")
	fs.String(&cfg.JWT.JWKSURL, "jwt-jwks-url", "", "JSON Web Key Set URL of the identity provider whose tokens are trusted (fetched at start, hourly, and on an unknown kid)")
	fs.String(&cfg.JWT.JWKSFile, "jwt-jwks-file", "", "JSON Web Key Set file of the keys whose tokens are trusted (read at start)")
	fs.String(&cfg.JWT.Issuer, "jwt-issuer", "", `a token's "iss" must be this (required with JWT keys)`)
	fs.String(&cfg.JWT.Audience, "jwt-audience", "", `a token's "aud" must name this (required with JWT keys)`)
	fs.Duration(&cfg.JWT.RefreshUnknownKID, "jwt-refresh-unknown-kid", 30*time.Second, "least time between two fetches of --jwt-jwks-url caused by tokens whose kid it does not hold (a key rotation)")
	fs.Float(&cfg.RateLimit.RPS, "rate-limit", 0, "requests a second each caller (a token's subject, else an address) may send on average; more are answered 429 (0: no limit)")
	fs.Int(&cfg.RateLimit.Burst, "rate-limit-burst", 0, "requests a caller may send at once, within --rate-limit (default: --rate-limit rounded up)")
}

// check refuses settings that contradict each other. keysOptional: dev makes its own key when
// given none.
func (c AuthConfig) check(keysOptional bool) error {
	switch c.Mode {
	case authNone, "":
		if c.JWT.JWKSURL != "" || c.JWT.JWKSFile != "" {
			return fmt.Errorf("--auth %s with JWT keys: the keys would not be used; set --auth jwt", c.Mode)
		}
	case authJWT:
		if c.JWT.JWKSURL == "" && c.JWT.JWKSFile == "" && !keysOptional {
			return fmt.Errorf("--auth jwt needs the keys that sign tokens: set --jwt-jwks-url or --jwt-jwks-file (or --auth none to let anyone call the API)")
		}
		if c.JWT.JWKSURL != "" && c.JWT.JWKSFile != "" {
			return fmt.Errorf("--jwt-jwks-url and --jwt-jwks-file both set: give one")
		}
		if (c.JWT.JWKSURL != "" || c.JWT.JWKSFile != "") && (c.JWT.Issuer == "" || c.JWT.Audience == "") {
			return fmt.Errorf("--auth jwt needs the issuer and audience its tokens must name: set --jwt-issuer and --jwt-audience")
		}
	default:
		return fmt.Errorf("--auth %q: want jwt or none", c.Mode)
	}
	if c.RateLimit.RPS < 0 || c.RateLimit.Burst < 0 {
		return fmt.Errorf("--rate-limit and --rate-limit-burst cannot be negative")
	}
	return nil
}

// verifier is the token checker of c (nil with --auth none). With --auth jwt and no keys given,
// dev trusts the development key under its data directory, which `ordersys token` mints with.
func (c AuthConfig) verifier(ctx context.Context, devDataDir string) (*auth.Verifier, error) {
	if c.Mode != authJWT {
		return nil, nil
	}
	if c.JWT.JWKSURL == "" && c.JWT.JWKSFile == "" && devDataDir != "" {
		key, err := auth.LoadDevKey(devDataDir)
		if err != nil {
			return nil, err
		}
		return key.Verifier(ctx)
	}
	return auth.NewVerifier(ctx, c.JWT)
}
