// Package httpx holds what every HTTP surface of ordersys shares: RFC 9457 problem documents and
// the mapping of errs codes to them, request validation against the OpenAPI spec, body limits,
// panic recovery and the health probes.
package httpx

import (
	"encoding/json"
	"net/http"

	"github.com/ordersys/ordersys/api"
)

// Problem types. They are URNs rather than URLs because ordersys has no web site to point at.
const (
	TypeValidation   = "urn:ordersys:problem:validation"
	TypeMalformed    = "urn:ordersys:problem:malformed-body"
	TypeTooLarge     = "urn:ordersys:problem:body-too-large"
	TypeMediaType    = "urn:ordersys:problem:unsupported-media-type"
	TypeNotFound     = "urn:ordersys:problem:not-found"
	TypeMethod       = "urn:ordersys:problem:method-not-allowed"
	TypeIdempotency  = "urn:ordersys:problem:idempotency-key"
	TypeConflict     = "urn:ordersys:problem:conflict"
	TypeInternal     = "urn:ordersys:problem:internal"
	TypeUnavailable  = "urn:ordersys:problem:unavailable"
	TypeKeyReused    = "urn:ordersys:problem:idempotency-key-reused"
	TypeRefused      = "urn:ordersys:problem:refused"
	TypeUnauthorized = "urn:ordersys:problem:unauthorized"
	TypeForbidden    = "urn:ordersys:problem:forbidden"
	TypeRateLimited  = "urn:ordersys:problem:rate-limited"
)

// NewProblem builds a problem document.
func NewProblem(status int, typ, title, detail string) api.Problem {
	p := api.Problem{Type: typ, Title: title, Status: status}
	if detail != "" {
		p.Detail = &detail
	}
	return p
}

// ValidationProblem is the 400 answer listing every bad field.
func ValidationProblem(errs []api.FieldError) api.Problem {
	p := NewProblem(http.StatusBadRequest, TypeValidation, "The request is invalid",
		"See errors for each invalid field.")
	p.Errors = &errs
	return p
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p api.Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
