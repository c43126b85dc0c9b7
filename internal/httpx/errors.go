package httpx

import (
	"cmp"
	"errors"
	"net/http"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// retryAfter is how many seconds a client should wait before retrying a 503: long enough not to
// pile on a dependency that is down, short enough to notice it is back.
const retryAfter = "2"

// WriteError writes the problem document that answers err, with Retry-After when it is 503.
func WriteError(w http.ResponseWriter, err error) api.Problem {
	p := ProblemFor(err)
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	WriteProblem(w, p)
	return p
}

// answers is the one place an error code becomes an HTTP status and problem type; the title is
// used when the error has none.
var answers = map[errs.Code]struct {
	status     int
	typ, title string
}{
	errs.ENOTFOUND:     {http.StatusNotFound, TypeNotFound, "Not found"},
	errs.ECONFLICT:     {http.StatusConflict, TypeConflict, "Conflict"},
	errs.EINVALID:      {http.StatusBadRequest, TypeValidation, "The request is invalid"},
	errs.EBADKEY:       {http.StatusBadRequest, TypeIdempotency, "Invalid Idempotency-Key"},
	errs.EKEYREUSED:    {http.StatusUnprocessableEntity, TypeKeyReused, "Idempotency-Key reused"},
	errs.EREFUSED:      {http.StatusUnprocessableEntity, TypeRefused, "The request is refused"},
	errs.EUNAVAILABLE:  {http.StatusServiceUnavailable, TypeUnavailable, "Service unavailable"},
	errs.EUNAUTHORIZED: {http.StatusUnauthorized, TypeUnauthorized, "Unauthorized"},
	errs.EFORBIDDEN:    {http.StatusForbidden, TypeForbidden, "Forbidden"},
	errs.EINTERNAL:     {http.StatusInternalServerError, TypeInternal, "Internal error"},
}

// errDatabaseDown answers a request that failed because its database is down or cannot write.
var errDatabaseDown = errs.New(errs.EUNAVAILABLE, "Service unavailable",
	"the database is unavailable; retry the request, with the same Idempotency-Key, after Retry-After seconds")

// ProblemFor is the problem document that answers err. An internal error (any error that is not
// an *errs.Error) says nothing of its cause: that is for the log, not the client.
func ProblemFor(err error) api.Problem {
	var e *errs.Error
	switch {
	case errors.As(err, &e):
	case sqlstore.Unavailable(err) || sqlstore.Unreachable(err):
		e = errDatabaseDown
	default:
		e = &errs.Error{Code: errs.EINTERNAL}
	}
	a, ok := answers[e.Code]
	switch {
	case !ok || e.Code == errs.EINTERNAL:
		a = answers[errs.EINTERNAL]
		return NewProblem(a.status, a.typ, a.title,
			"the request could not be completed; it is safe to retry with the same Idempotency-Key")
	case e.Code == errs.EINVALID:
		fields := make([]api.FieldError, len(e.Fields))
		for i, f := range e.Fields {
			fields[i] = api.FieldError{Field: f.Field, Message: f.Message}
		}
		if len(fields) == 0 { // a bare invalid error still says what was wrong
			fields = []api.FieldError{{Message: err.Error()}}
		}
		return ValidationProblem(fields)
	}
	return NewProblem(a.status, a.typ, cmp.Or(e.Title, a.title), e.Detail)
}
