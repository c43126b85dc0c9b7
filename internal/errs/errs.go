// Package errs is the error vocabulary the services share: a domain error carries a Code saying
// what kind of failure it is, and the HTTP layer (httpx.ProblemFor) maps each Code to a status
// and problem type in one place, so no service needs to know HTTP.
package errs

// Code is the kind of a failure. The names follow benbjohnson/wtf's error codes.
type Code string

// The codes. Any error that is not an *Error is EINTERNAL.
const (
	ENOTFOUND     Code = "not_found"
	ECONFLICT     Code = "conflict"     // the request is valid but the resource's state refuses it
	EINVALID      Code = "invalid"      // Fields says which input is wrong and why
	EBADKEY       Code = "bad_key"      // the Idempotency-Key is missing or too long
	EKEYREUSED    Code = "key_reused"   // the Idempotency-Key came with a different request
	EREFUSED      Code = "refused"      // the request is well formed, and the rules refuse it
	EUNAVAILABLE  Code = "unavailable"  // a dependency did not answer
	EUNAUTHORIZED Code = "unauthorized" // no credentials, or ones that do not prove who the caller is
	EFORBIDDEN    Code = "forbidden"    // the caller is known and may not do this
	EINTERNAL     Code = "internal"
)

// Error is a failure to report to the client: Title sums it up and Detail explains it (both are
// optional; the HTTP layer has a title for every code).
type Error struct {
	Code   Code
	Title  string
	Detail string
	Fields []FieldError
}

// FieldError is one invalid input field, named by its JSON path (items[0].quantity).
type FieldError struct {
	Field, Message string
}

// Error is the detail, else the title: callers wrap sentinel errors, so it stays plain text.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	if e.Title != "" {
		return e.Title
	}
	return string(e.Code)
}

// New returns an error of code with a title and a detail.
func New(code Code, title, detail string) *Error {
	return &Error{Code: code, Title: title, Detail: detail}
}

// Invalid returns the EINVALID error that lists fields.
func Invalid(fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Title: "The request is invalid", Fields: fields}
}
