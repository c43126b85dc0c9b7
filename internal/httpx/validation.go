package httpx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	middleware "github.com/oapi-codegen/nethttp-middleware"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
)

// BodyChecks are what an operation's handler checks in a body beyond its schema (a currency's
// minor unit, say), by operation ID as the generated code names it (CreateOrder). Each reads the
// raw body leniently and names the bad fields it can see.
type BodyChecks map[string]func(body []byte) []errs.FieldError

// Validator checks every request against the OpenAPI document before a handler sees it, and
// answers violations with a problem document that names each bad field. When the schema refuses
// a body, the operation's BodyChecks run too and their fields join the schema's, so that one
// answer names every bad field rather than the handler's only once the schema's are fixed.
func Validator(spec *openapi3.T, checks BodyChecks) func(http.Handler) http.Handler {
	defineFormats.Do(func() { openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(uuidPattern)) })
	spec.Servers = nil // validate paths only, whatever host the API is reached on
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		panic(err) // as the middleware below would: the embedded spec is broken
	}
	return middleware.OapiRequestValidatorWithOptions(spec, &middleware.Options{
		Options: openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
		// Bind the body from its JSON text, not from the validator's decoded copy: amounts are
		// exact decimals and must never pass through float64.
		DiscardValidatedValue: true,
		ErrorHandlerWithOpts: func(_ context.Context, err error, w http.ResponseWriter, r *http.Request, _ middleware.ErrorHandlerOpts) {
			p := problemFor(err, r, checks)
			if p.Status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", strings.Join(allowed(router, r), ", "))
			}
			WriteProblem(w, p)
		},
	})
}

// allowed lists the methods the spec has an operation for at r's path, as a 405's Allow header
// must (RFC 9110): the router is asked about each method in turn.
func allowed(router routers.Router, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := router.FindRoute(probe); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// uuidPattern accepts any UUID in its canonical text form, whatever its version, as the
// generated handlers do when they parse one.
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// defineFormats registers formats in kin-openapi's process-wide table, once.
var defineFormats sync.Once

func problemFor(err error, r *http.Request, checks BodyChecks) api.Problem {
	var routeErr *routers.RouteError
	if errors.As(err, &routeErr) {
		if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
			return NewProblem(http.StatusMethodNotAllowed, TypeMethod, "Method not allowed",
				fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
		}
		return NewProblem(http.StatusNotFound, TypeNotFound, "Not found", fmt.Sprintf("no operation at %s", r.URL.Path))
	}
	var fields []api.FieldError
	var input *openapi3filter.RequestValidationInput // the request refused, with its route
	for _, e := range flatten(err) {
		var reqErr *openapi3filter.RequestError
		if !errors.As(e, &reqErr) {
			fields = append(fields, api.FieldError{Field: "", Message: e.Error()})
			continue
		}
		var parseErr *openapi3filter.ParseError
		if reqErr.RequestBody != nil && errors.As(reqErr, &parseErr) {
			return NewProblem(http.StatusBadRequest, TypeMalformed, "The body is not valid JSON", parseErr.Error())
		}
		input = cmp.Or(input, reqErr.Input)
		fields = append(fields, fieldErrors(reqErr)...)
	}
	// After the schema's, so that a field both find wrong keeps the schema's message below.
	fields = append(fields, checkBody(input, checks)...)
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	// One message per field: "more than 0" and "at least 0" about the same quantity say one thing.
	fields = slices.CompactFunc(fields, func(a, b api.FieldError) bool { return a.Field == b.Field })
	return ValidationProblem(fields)
}

// checkBody runs the BodyChecks of the operation of a refused request (input, nil if unknown) on
// its body as it was sent: whether the schema refused the body or only a parameter, the handler
// that would have checked the body will not run.
func checkBody(input *openapi3filter.RequestValidationInput, checks BodyChecks) []api.FieldError {
	if input == nil || input.Route == nil || input.Route.Operation == nil {
		return nil
	}
	check := checks[input.Route.Operation.OperationID]
	r := input.Request
	if check == nil || r == nil || r.GetBody == nil {
		return nil
	}
	rc, err := r.GetBody() // the validator keeps the body it read
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil
	}
	var out []api.FieldError
	for _, f := range check(b) {
		out = append(out, api.FieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

// flatten unwraps the validator's nested MultiErrors into a flat list. It looks at err itself,
// not its chain, so that a RequestError wrapping a MultiError keeps its parameter or body.
func flatten(err error) []error {
	if multi, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range multi {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func fieldErrors(reqErr *openapi3filter.RequestError) []api.FieldError {
	prefix := ""
	if reqErr.Parameter != nil {
		prefix = reqErr.Parameter.Name
	}
	var out []api.FieldError
	for _, e := range flatten(reqErr.Err) {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			msg := se.Reason
			if se.SchemaField == "format" && se.Schema != nil {
				msg = "must be a " + se.Schema.Format
			}
			out = append(out, api.FieldError{Field: joinField(prefix, se), Message: msg})
			continue
		}
		msg := reqErr.Reason
		if e != nil {
			msg = strings.TrimSpace(strings.TrimPrefix(e.Error(), msg+":"))
		}
		if msg == "" {
			msg = reqErr.Error()
		}
		out = append(out, api.FieldError{Field: prefix, Message: msg})
	}
	if len(out) == 0 {
		out = append(out, api.FieldError{Field: prefix, Message: reqErr.Reason})
	}
	return out
}

// joinField renders a schema error's location as a path such as items[0].sku. An unknown property
// is reported at its parent; name the property itself so the client sees which one.
func joinField(prefix string, se *openapi3.SchemaError) string {
	var b strings.Builder
	b.WriteString(prefix)
	parts := se.JSONPointer()
	if strings.HasSuffix(se.Reason, "is unsupported") { // an unknown property
		if name := quoted(se.Reason); name != "" {
			parts = append(parts, name)
		}
	}
	for _, p := range parts {
		if isIndex(p) {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func quoted(s string) string {
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i+1:], '"')
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
