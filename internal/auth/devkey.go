package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// The issuer and audience of the tokens a DevKey mints, and that `ordersys dev --auth jwt` checks.
const (
	DevIssuer   = "ordersys-dev"
	DevAudience = "ordersys"
)

// DevKey is the signing key of a development setup: `ordersys dev --auth jwt` makes one under its
// data directory and trusts it, and `ordersys token` mints tokens with it. It stands in for an
// identity provider; it is not one.
type DevKey struct {
	priv ed25519.PrivateKey
	kid  string
	// JWKSFile holds the public half as a JSON Web Key Set.
	JWKSFile string
}

// DevKeyDir is where a DevKey lives under a data directory.
func DevKeyDir(dataDir string) string { return filepath.Join(dataDir, "auth") }

// LoadDevKey reads the DevKey under dataDir, creating it when there is none.
func LoadDevKey(dataDir string) (*DevKey, error) {
	dir := DevKeyDir(dataDir)
	keyFile := filepath.Join(dir, "dev-signing-key.pem")
	raw, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = newDevKeyFile(dir, keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("development signing key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("development signing key %s: not PEM", keyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("development signing key %s: %w", keyFile, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("development signing key %s: not an Ed25519 key", keyFile)
	}
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	k := &DevKey{priv: priv, kid: "dev-" + hex.EncodeToString(sum[:8]), JWKSFile: filepath.Join(dir, "jwks.json")}
	return k, k.writeJWKS()
}

func newDevKeyFile(dir, keyFile string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// O_EXCL: of two processes making the key at once, one wins and the other reads its key.
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(keyFile)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return nil, err
	}
	return raw, f.Close()
}

// writeJWKS writes the public key set that a Verifier of this key reads.
func (k *DevKey) writeJWKS() error {
	jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.AlgEdDSA, USE: jwkset.UseSig},
	})
	if err != nil {
		return fmt.Errorf("development JWKS: %w", err)
	}
	raw, err := json.MarshalIndent(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}}, "", "  ")
	if err != nil {
		return err
	}
	tmp := k.JWKSFile + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, k.JWKSFile)
}

// Verifier returns a Verifier of the tokens k mints.
func (k *DevKey) Verifier(ctx context.Context) (*Verifier, error) {
	return NewVerifier(ctx, JWTConfig{JWKSFile: k.JWKSFile, Issuer: DevIssuer, Audience: DevAudience})
}

// Mint returns a token for sub with scopes, valid for ttl.
func (k *DevKey) Mint(sub string, scopes []string, ttl time.Duration) (string, error) {
	now := time.Now()
	c := claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: DevIssuer, Audience: jwt.ClaimStrings{DevAudience}, Subject: sub,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}, Scope: strings.Join(scopes, " ")}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.kid
	return t.SignedString(k.priv)
}
