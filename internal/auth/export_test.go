package auth

// ScpClaim is the "scp" claim's type, for its test.
type ScpClaim = scpClaim
