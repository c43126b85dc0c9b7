package auth

import (
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ScpClaim is the "scp" claim's type, for its test.
type ScpClaim = scpClaim

// Cached is how many checked tokens v remembers.
func (v *Verifier) Cached() int {
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	return len(v.cache.m)
}

// FillCache makes v remember n made-up tokens, valid for d.
func (v *Verifier) FillCache(n int, d time.Duration) {
	now := time.Now()
	for i := range n {
		v.cache.put(strconv.Itoa(i), Principal{Subject: strconv.Itoa(i)}, now.Add(d), now)
	}
}

// SignWithoutKID signs claims with k's key and names no key in the header.
func (k *DevKey) SignWithoutKID(sub string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: DevIssuer, Audience: jwt.ClaimStrings{DevAudience}, Subject: sub,
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}).SignedString(k.priv)
}
