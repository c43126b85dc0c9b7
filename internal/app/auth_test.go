package app

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/pgtest"
)

// testIdP stands in for an identity provider: it signs tokens with an RSA, an EC and an Ed25519
// key and publishes them as a JWKS on a local URL, with a fourth key it publishes only once
// rotate is called.
type testIdP struct {
	url     string
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	later   ed25519.PrivateKey
	rotated atomic.Bool
}

const (
	idpIssuer   = "https://idp.test"
	idpAudience = "ordersys-api"
)

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	idp := &testIdP{}
	var err error
	if idp.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if idp.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	_, idp.ed, _ = ed25519.GenerateKey(rand.Reader)
	_, idp.later, _ = ed25519.GenerateKey(rand.Reader)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		keys := []jwkset.JWKMarshal{
			publicJWK(t, idp.rsa.Public(), "k-rsa", jwkset.AlgRS256),
			publicJWK(t, idp.ec.Public(), "k-ec", jwkset.AlgES256),
			publicJWK(t, idp.ed.Public(), "k-ed", jwkset.AlgEdDSA),
		}
		if idp.rotated.Load() {
			keys = append(keys, publicJWK(t, idp.later.Public(), "k-later", jwkset.AlgEdDSA))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: keys})
	}))
	t.Cleanup(srv.Close)
	idp.url = srv.URL
	return idp
}

func publicJWK(t *testing.T, pub any, kid string, alg jwkset.ALG) jwkset.JWKMarshal {
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
	if err != nil {
		t.Error(err)
	}
	return jwk.Marshal()
}

// claims are a token's claims for sub with scopes, valid for an hour, from idpIssuer for idpAudience.
func idpClaims(sub string, scopes ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "sub": sub, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func (idp *testIdP) sign(t *testing.T, method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authPrincipals are the callers of the table, by name: the Authorization header each sends.
func (idp *testIdP) authPrincipals(t *testing.T, customerA, customerB string) map[string]string {
	t.Helper()
	rw := []string{auth.ScopeRead, auth.ScopeWrite}
	bearer := func(tok string) string { return "Bearer " + tok }
	expired := idpClaims(customerA, rw...)
	expired["exp"], expired["nbf"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-3*time.Hour).Unix()
	wrongAud := idpClaims(customerA, rw...)
	wrongAud["aud"] = "someone-else"
	wrongIss := idpClaims(customerA, rw...)
	wrongIss["iss"] = "https://evil.test"
	valid := idp.sign(t, jwt.SigningMethodRS256, "k-rsa", idp.rsa, idpClaims(customerA, rw...))
	parts := strings.Split(valid, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1 // one bit of the signature
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	// The payload changed to another customer's, the signature kept.
	otherPayload := base64.RawURLEncoding.EncodeToString(mustJSON(t, idpClaims(customerB, rw...)))
	forged := parts[0] + "." + otherPayload + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	der, err := x509.MarshalPKIXPublicKey(idp.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The classic confusion: HMAC keyed with the public key, which anyone has.
	hs256 := idp.sign(t, jwt.SigningMethodHS256, "k-rsa", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		idpClaims(customerA, rw...))
	return map[string]string{
		"anonymous":   "",
		"A":           bearer(valid),
		"A (ES256)":   bearer(idp.sign(t, jwt.SigningMethodES256, "k-ec", idp.ec, idpClaims(customerA, rw...))),
		"A read-only": bearer(idp.sign(t, jwt.SigningMethodEdDSA, "k-ed", idp.ed, idpClaims(customerA, auth.ScopeRead))),
		"B":           bearer(idp.sign(t, jwt.SigningMethodEdDSA, "k-ed", idp.ed, idpClaims(customerB, rw...))),
		"admin":       bearer(idp.sign(t, jwt.SigningMethodRS256, "k-rsa", idp.rsa, idpClaims(uuid.NewString(), auth.ScopeAdmin))),
		"expired":     bearer(idp.sign(t, jwt.SigningMethodRS256, "k-rsa", idp.rsa, expired)),
		"wrong aud":   bearer(idp.sign(t, jwt.SigningMethodRS256, "k-rsa", idp.rsa, wrongAud)),
		"wrong iss":   bearer(idp.sign(t, jwt.SigningMethodRS256, "k-rsa", idp.rsa, wrongIss)),
		"tampered":    bearer(tampered),
		"forged sub":  bearer(forged),
		"alg none":    bearer(none),
		"HS256 w/pub": bearer(hs256),
		"unknown kid": bearer(idp.sign(t, jwt.SigningMethodEdDSA, "k-nobody", idp.later, idpClaims(customerA, rw...))),
		"malformed":   "Bearer not.a.jwt",
		"basic":       "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")),
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// authed sends a request with the Authorization header authz (none when empty).
func authed(t *testing.T, method, url, authz, key, body string) response {
	t.Helper()
	h := http.Header{}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	return send(t, method, url, h, []byte(body))
}

// TestAuthDev and TestAuthServe run the table of who may do what against `ordersys dev` and
// against a `serve` process on PostgreSQL, both trusting testIdP.
func TestAuthDev(t *testing.T) {
	idp := newTestIdP(t)
	d := startDevWith(t, DevConfig{Auth: AuthConfig{Mode: authJWT, JWT: auth.JWTConfig{
		JWKSURL: idp.url, Issuer: idpIssuer, Audience: idpAudience, RefreshUnknownKID: 200 * time.Millisecond}}})
	runAuthTable(t, "http://"+d.Addr, idp)
}

func TestAuthServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, a broker and a serve process")
	}
	idp := newTestIdP(t)
	dsn := pgtest.DSN(t)
	broker := startProcess(t, "broker", brokerUp, "broker", "--addr", freeAddr(t), "--data-dir", t.TempDir(),
		"--metrics-addr", "127.0.0.1:0")
	p := startProcess(t, "serve", serveReady, "serve", "--addr", "127.0.0.1:0", "--database-url", dsn,
		"--kafka-brokers", broker.addr, "--partitions", "1", "--log-level", "warn", "--demo-catalog",
		"--instance-id", "auth-test", "--jwt-jwks-url", idp.url, "--jwt-issuer", idpIssuer,
		"--jwt-audience", idpAudience, "--jwt-refresh-unknown-kid", "200ms")
	runAuthTable(t, p.addr, idp)
}

func runAuthTable(t *testing.T, base string, idp *testIdP) {
	customerA, customerB := uuid.NewString(), uuid.NewString()
	who := idp.authPrincipals(t, customerA, customerB)
	place := func(principal, customer string) string {
		t.Helper()
		r := authed(t, http.MethodPost, base+"/api/v1/orders/create", who[principal], uuid.NewString(), orderBody(customer, "SKU-1"))
		if r.status != http.StatusCreated {
			t.Fatalf("%s places an order for %s: %d %s", principal, customer, r.status, r.body)
		}
		return r.json(t)["orderId"].(string)
	}
	orderA, orderB := place("A", customerA), place("B", customerB)
	cancelA := place("A", customerA)
	missing := uuid.NewString()

	type op struct {
		method, path, body string
		key                bool
	}
	ops := map[string]op{
		"create own":      {http.MethodPost, "/api/v1/orders/create", orderBody(customerA, "SKU-2"), true},
		"create for B":    {http.MethodPost, "/api/v1/orders/create", orderBody(customerB, "SKU-2"), true},
		"get A's":         {http.MethodGet, "/api/v1/orders/" + orderA, "", false},
		"get B's":         {http.MethodGet, "/api/v1/orders/" + orderB, "", false},
		"get missing":     {http.MethodGet, "/api/v1/orders/" + missing, "", false},
		"list":            {http.MethodGet, "/api/v1/orders", "", false},
		"list A's":        {http.MethodGet, "/api/v1/orders?customerId=" + customerA, "", false},
		"list B's":        {http.MethodGet, "/api/v1/orders?customerId=" + customerB, "", false},
		"cancel A's":      {http.MethodPost, "/api/v1/orders/" + cancelA + "/cancel", "", true},
		"cancel B's":      {http.MethodPost, "/api/v1/orders/" + orderB + "/cancel", "", true},
		"payments of A's": {http.MethodGet, "/api/v1/payments?orderId=" + orderA, "", false},
		"reservation":     {http.MethodGet, "/api/v1/reservations?orderId=" + orderA, "", false},
		"get stock":       {http.MethodGet, "/api/v1/inventory/SKU-1", "", false},
		"set stock":       {http.MethodPut, "/api/v1/inventory/SKU-19", `{"available": 500}`, false},
		"dead letters":    {http.MethodGet, "/api/v1/admin/dlq", "", false},
		"discard one":     {http.MethodPost, "/api/v1/admin/dlq/nope.dlq:0:0/discard", "", false},
		"counts":          {http.MethodGet, "/api/v1/orders/counts", "", false},
		"list stuck":      {http.MethodGet, "/api/v1/orders?stuck=true&olderThan=1s", "", false},
		"liveness":        {http.MethodGet, "/api/utility/liveness", "", false},
		"readiness":       {http.MethodGet, "/api/utility/readiness", "", false},
		"docs":            {http.MethodGet, "/docs.json", "", false},
		"metrics":         {http.MethodGet, "/metrics", "", false},
	}
	rows := []struct {
		principal, op string
		want          int
	}{
		{"admin", "create for B", 201}, {"admin", "get A's", 200}, {"admin", "get B's", 200}, {"admin", "list", 200},
		{"admin", "list B's", 200}, {"admin", "payments of A's", 200}, {"admin", "set stock", 200},
		{"admin", "dead letters", 200}, {"admin", "get missing", 404}, {"admin", "reservation", 200},
		{"A", "reservation", 403}, {"anonymous", "reservation", 401}, {"admin", "discard one", 404},
		{"admin", "counts", 200}, {"admin", "list stuck", 200}, {"A", "list stuck", 200}, {"A", "counts", 403},
		{"A", "discard one", 403}, {"A read-only", "counts", 403}, {"anonymous", "counts", 401},
		{"anonymous", "discard one", 401},

		{"A", "create own", 201}, {"A (ES256)", "create own", 201}, {"A", "create for B", 403}, {"A", "get A's", 200},
		{"A", "get B's", 404}, {"A", "get missing", 404}, {"A", "list", 200}, {"A", "list A's", 200},
		{"A", "list B's", 403}, {"A", "cancel B's", 404}, {"A", "cancel A's", 202}, {"A", "payments of A's", 200},
		{"A", "get stock", 200}, {"A", "set stock", 403}, {"A", "dead letters", 403},

		{"A read-only", "get A's", 200}, {"A read-only", "create own", 403}, {"A read-only", "cancel A's", 403},
		{"B", "get A's", 404}, {"B", "list A's", 403}, {"B", "cancel A's", 404}, {"B", "payments of A's", 200},

		{"anonymous", "create own", 401}, {"anonymous", "get A's", 401}, {"anonymous", "list", 401},
		{"anonymous", "set stock", 401}, {"anonymous", "dead letters", 401}, {"anonymous", "get stock", 401},
		{"anonymous", "liveness", 200}, {"anonymous", "readiness", 200}, {"anonymous", "docs", 200},
		{"anonymous", "metrics", 200}, {"expired", "liveness", 200},
	}
	for _, bad := range []string{"expired", "wrong aud", "wrong iss", "tampered", "forged sub", "alg none",
		"HS256 w/pub", "unknown kid", "malformed", "basic"} {
		rows = append(rows, struct {
			principal, op string
			want          int
		}{bad, "get A's", 401}, struct {
			principal, op string
			want          int
		}{bad, "create own", 401})
	}
	if len(rows) < 40 {
		t.Fatalf("%d rows, want at least 40", len(rows))
	}
	for _, row := range rows {
		o := ops[row.op]
		key := ""
		if o.key {
			key = uuid.NewString()
		}
		r := authed(t, o.method, base+o.path, who[row.principal], key, o.body)
		// A cancel that is let through may find the order already ended.
		if r.status != row.want && !(row.want == 202 && r.status == http.StatusConflict) {
			t.Errorf("%s: %s (%s %s) = %d, want %d: %s", row.principal, row.op, o.method, o.path, r.status, row.want, r.body)
			continue
		}
		challenge := r.header.Get("WWW-Authenticate")
		switch {
		case row.want == 401 && (!strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="invalid_token"`)):
			t.Errorf("%s: %s: 401 with WWW-Authenticate %q, want Bearer error=\"invalid_token\"", row.principal, row.op, challenge)
		case row.want == 401 || row.want == 403:
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: %s: %d as %q, want a problem document", row.principal, row.op, row.want, ct)
			}
		}
		// A missing scope is the token's shortfall (insufficient_scope); another customer's order
		// is the rules', and names no scope.
		if row.want == 403 && row.principal == "A read-only" && !strings.Contains(challenge, `error="insufficient_scope"`) {
			t.Errorf("%s: %s: 403 with WWW-Authenticate %q, want error=\"insufficient_scope\"", row.principal, row.op, challenge)
		}
	}

	t.Run("a customer sees only its own", func(t *testing.T) {
		list := authed(t, http.MethodGet, base+"/api/v1/orders?size=100", who["A"], "", "").json(t)
		items := list["items"].([]any)
		if len(items) == 0 {
			t.Fatal("A lists no orders")
		}
		for _, it := range items {
			if c := it.(map[string]any)["customerId"]; c != customerA {
				t.Errorf("A's list holds an order of %v", c)
			}
		}
		// B learns nothing of A's order: the answer is the one for an order that does not exist.
		other := authed(t, http.MethodGet, base+"/api/v1/orders/"+orderA, who["B"], "", "")
		nobody := authed(t, http.MethodGet, base+"/api/v1/orders/"+missing, who["B"], "", "")
		if strings.ReplaceAll(string(other.body), orderA, "ID") != strings.ReplaceAll(string(nobody.body), missing, "ID") {
			t.Errorf("B's answers differ for A's order and a missing one:\n%s\n%s", other.body, nobody.body)
		}
	})

	t.Run("same Idempotency-Key, two customers, two orders", func(t *testing.T) {
		key := uuid.NewString()
		a := authed(t, http.MethodPost, base+"/api/v1/orders/create", who["A"], key, orderBody(customerA, "SKU-3"))
		b := authed(t, http.MethodPost, base+"/api/v1/orders/create", who["B"], key, orderBody(customerB, "SKU-3"))
		if a.status != 201 || b.status != 201 {
			t.Fatalf("creates: %d %s, %d %s", a.status, a.body, b.status, b.body)
		}
		if a.json(t)["orderId"] == b.json(t)["orderId"] || b.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("B's create replayed A's: %s, %s", a.body, b.body)
		}
		again := authed(t, http.MethodPost, base+"/api/v1/orders/create", who["A"], key, orderBody(customerA, "SKU-3"))
		if again.header.Get("Idempotent-Replayed") != "true" || again.json(t)["orderId"] != a.json(t)["orderId"] {
			t.Errorf("A's retry was not replayed: %d %s", again.status, again.body)
		}
	})

	t.Run("a key the JWKS gains later", func(t *testing.T) {
		tok := "Bearer " + idp.sign(t, jwt.SigningMethodEdDSA, "k-later", idp.later, idpClaims(customerA, auth.ScopeRead))
		if r := authed(t, http.MethodGet, base+"/api/v1/orders/"+orderA, tok, "", ""); r.status != 401 {
			t.Fatalf("before the rotation: %d %s, want 401", r.status, r.body)
		}
		idp.rotated.Store(true)
		poll(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
			r := authed(t, http.MethodGet, base+"/api/v1/orders/"+orderA, tok, "", "")
			return r.status == 200, fmt.Sprintf("%d %s", r.status, r.body)
		})
	})
}

// TestRateLimitPerCaller: --rate-limit holds back the caller who exceeds it, by its token's
// subject, and no one else; the probes are never limited.
func TestRateLimitPerCaller(t *testing.T) {
	idp := newTestIdP(t)
	d := startDevWith(t, DevConfig{Auth: AuthConfig{Mode: authJWT,
		JWT:       auth.JWTConfig{JWKSURL: idp.url, Issuer: idpIssuer, Audience: idpAudience},
		RateLimit: httpx.RateLimit{RPS: 0.1, Burst: 2}}})
	base := "http://" + d.Addr
	a, b := uuid.NewString(), uuid.NewString()
	token := func(sub string) string {
		return "Bearer " + idp.sign(t, jwt.SigningMethodEdDSA, "k-ed", idp.ed, idpClaims(sub, auth.ScopeRead))
	}
	list := func(authz string) response { return authed(t, http.MethodGet, base+"/api/v1/orders", authz, "", "") }
	for i, want := range []int{200, 200, 429} {
		if r := list(token(a)); r.status != want {
			t.Fatalf("A's request %d: %d, want %d: %s", i+1, r.status, want, r.body)
		} else if want == 429 && (r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0") {
			t.Errorf("429 without Retry-After or RateLimit-Remaining: %v", r.header)
		}
	}
	// A fresh token of A's is still A.
	if r := list(token(a)); r.status != 429 {
		t.Errorf("A with another token: %d, want 429", r.status)
	}
	if r := list(token(b)); r.status != 200 {
		t.Errorf("B after A was limited: %d, want 200", r.status)
	}
	for range 5 {
		if r := authed(t, http.MethodGet, base+"/api/utility/readiness", "", "", ""); r.status != 200 {
			t.Fatalf("readiness: %d", r.status)
		}
	}
}
