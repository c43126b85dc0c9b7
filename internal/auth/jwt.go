package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// JWTConfig says where the keys that sign bearer tokens come from and what a token's claims must
// say. Exactly one of JWKSURL and JWKSFile is required.
type JWTConfig struct {
	// JWKSURL is a JSON Web Key Set as an OIDC provider publishes it: fetched at start, again
	// every RefreshInterval, and when a token names a kid it does not hold (at most once per
	// RefreshUnknownKID).
	JWKSURL string
	// JWKSFile is a JSON Web Key Set in a file, read at start.
	JWKSFile string
	// Issuer and Audience must be the token's "iss" and among its "aud" (both required: without
	// them, a token the same provider issued for another API would do).
	Issuer, Audience string
	// Leeway is the clock skew allowed on "exp" and "nbf" (default 30s, at most 1m).
	Leeway time.Duration
	// RefreshInterval is how often the key set at JWKSURL is fetched again (default 1h).
	RefreshInterval time.Duration
	// RefreshUnknownKID is the least time between two fetches caused by unknown kids (default
	// 30s), so that tokens with made-up kids cannot make ordersys hammer the provider.
	RefreshUnknownKID time.Duration
	// Log is where failed refreshes are reported (default: nowhere).
	Log *slog.Logger
}

// maxLeeway bounds the clock skew forgiven: more would keep expired tokens alive.
const maxLeeway = time.Minute

func (c *JWTConfig) setDefaults() error {
	switch {
	case c.JWKSURL == "" && c.JWKSFile == "":
		return errors.New("JWT authentication needs its keys: set --jwt-jwks-url or --jwt-jwks-file (or --auth none)")
	case c.JWKSURL != "" && c.JWKSFile != "":
		return errors.New("--jwt-jwks-url and --jwt-jwks-file both set: give one")
	case c.Issuer == "" || c.Audience == "":
		return errors.New("JWT authentication needs the issuer and audience its tokens must name: set --jwt-issuer and --jwt-audience")
	case c.JWKSURL != "" && !secureURL(c.JWKSURL):
		return fmt.Errorf("--jwt-jwks-url %q: want https (plain http only to this machine), or anyone on the way could hand over keys", c.JWKSURL)
	case c.Leeway < 0 || c.Leeway > maxLeeway:
		return fmt.Errorf("JWT leeway %v: want 0 to %v", c.Leeway, maxLeeway)
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = time.Hour
	}
	if c.RefreshUnknownKID <= 0 {
		c.RefreshUnknownKID = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// secureURL reports whether keys fetched from u can be trusted in transit: https, or http to a
// loopback address.
func secureURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	if parsed.Scheme == "https" {
		return true
	}
	host := parsed.Hostname()
	ip := net.ParseIP(host)
	return parsed.Scheme == "http" && (host == "localhost" || (ip != nil && ip.IsLoopback()))
}

// algorithms are the signatures a token may carry: asymmetric only, so that no key ordersys
// holds can sign one. "none" and the HMACs are refused.
var algorithms = []string{"RS256", "ES256", "EdDSA"}

// Verifier checks bearer tokens and says whose they are.
type Verifier struct {
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
	cache  tokenCache
}

// NewVerifier returns a Verifier of tokens signed by the keys cfg names. With a JWKS URL it
// fetches the set once before returning, and refreshes it until ctx ends.
func NewVerifier(ctx context.Context, cfg JWTConfig) (*Verifier, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var keys keyfunc.Keyfunc
	var err error
	if cfg.JWKSFile != "" {
		raw, rerr := os.ReadFile(cfg.JWKSFile)
		if rerr != nil {
			return nil, fmt.Errorf("JWKS file: %w", rerr)
		}
		keys, err = keyfunc.NewJWKSetJSON(json.RawMessage(raw))
	} else {
		failFirst := false
		keys, err = keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:                    &http.Client{Timeout: 10 * time.Second},
			NoErrorReturnFirstHTTPReq: &failFirst,
			RefreshInterval:           cfg.RefreshInterval,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(cfg.RefreshUnknownKID), 1),
			// A token whose kid is unknown while the limiter is empty is refused at once rather
			// than held; the wait also bounds the fetch.
			RateLimitWaitMax: 5 * time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					cfg.Log.WarnContext(ctx, "JWKS refresh failed", "url", u, "err", err)
				}
			},
		})
	}
	if err != nil {
		return nil, fmt.Errorf("JWT keys: %w", err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algorithms),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{keys: keys, parser: jwt.NewParser(opts...)}, nil
}

// claims are the parts of a token ordersys reads.
type claims struct {
	jwt.RegisteredClaims
	Scope string   `json:"scope,omitempty"` // space-separated (RFC 8693, OAuth 2.0)
	Scp   scpClaim `json:"scp,omitempty"`   // an array (Okta, Auth0) or a space-separated string (Entra ID)
}

type scpClaim []string

func (s *scpClaim) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*s = list
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New(`"scp" is neither an array nor a string`)
	}
	*s = strings.Fields(str)
	return nil
}

// ErrInvalidToken is a token that is missing, malformed, expired, not yet valid, for another
// issuer or audience, or not signed by a key of the set.
var ErrInvalidToken = errors.New("invalid token")

// Verify checks token and returns its principal. Its error wraps ErrInvalidToken and says why.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	now := time.Now()
	if p, ok := v.cache.get(token, now); ok {
		return p, nil
	}
	var c claims
	keys := v.keys.KeyfuncCtx(ctx)
	// Without a kid, keyfunc would try every key of the set; a token must name its key.
	named := func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errors.New(`no "kid" in the token's header`)
		}
		return keys(t)
	}
	if _, err := v.parser.ParseWithClaims(token, &c, named); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf(`%w: no "sub" claim`, ErrInvalidToken)
	}
	p := Principal{Subject: c.Subject, Scopes: append(strings.Fields(c.Scope), c.Scp...)}
	if id, err := uuid.Parse(c.Subject); err == nil {
		p.Subject = id.String() // the form customer ids take everywhere else
	}
	until := now.Add(cacheFor)
	if exp := c.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	v.cache.put(token, p, until, now)
	return p, nil
}
