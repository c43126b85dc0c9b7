package auth

import (
	"net/http"
	"strings"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/httpx"
)

// Requirements are what each operation asks of its caller, by "METHOD /route/template": a list
// of alternatives, each a set of scopes all of which a token must grant (the OpenAPI document's
// security requirements). An operation not listed is public.
type Requirements map[string][][]string

// Authenticator puts each request's Principal in its context and refuses a request to an
// operation its caller may not use, before anything else reads the request.
type Authenticator struct {
	// Verifier checks bearer tokens; nil means authentication is off and every caller is Anyone.
	Verifier *Verifier
	Required Requirements
	// Route is the route template of a request, as Required names it.
	Route func(*http.Request) string
}

// Middleware authenticates the requests to next.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Verifier == nil {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), Anyone)))
			return
		}
		alternatives, secured := a.Required[r.Method+" "+a.Route(r)]
		if !secured {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(r)
		if !ok {
			refuse(w, errs.New(errs.EUNAUTHORIZED, "Authentication required",
				"send a bearer token: Authorization: Bearer <JWT>"), `error="invalid_token", error_description="no bearer token"`)
			return
		}
		p, err := a.Verifier.Verify(r.Context(), token)
		if err != nil {
			refuse(w, errs.New(errs.EUNAUTHORIZED, "Invalid token", err.Error()),
				`error="invalid_token", error_description="`+quotable(err)+`"`)
			return
		}
		if !grants(p, alternatives) {
			need := strings.Join(alternatives[0], " ")
			refuse(w, errs.New(errs.EFORBIDDEN, "Insufficient scope", "this operation needs the scope "+need),
				`error="insufficient_scope", scope="`+need+`"`)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// grants reports whether p has every scope of one of the alternatives.
func grants(p Principal, alternatives [][]string) bool {
	for _, scopes := range alternatives {
		all := true
		for _, s := range scopes {
			all = all && p.Has(s)
		}
		if all {
			return true
		}
	}
	return false
}

// bearerToken is the token of an "Authorization: Bearer" header (RFC 6750; the scheme is
// case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// refuse answers 401 or 403 with the challenge of RFC 6750 and a problem document.
func refuse(w http.ResponseWriter, err *errs.Error, challenge string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ordersys", `+challenge)
	httpx.WriteError(w, err)
}

// quotable is err's text, fit for a quoted-string: the token is the caller's, not a secret, but
// its text must not break the header.
func quotable(err error) string {
	return strings.NewReplacer(`"`, "'", `\`, "/", "\r", " ", "\n", " ").Replace(err.Error())
}
