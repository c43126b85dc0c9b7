package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
)

// Services whose APIs the console calls, by the names the flags use.
const (
	svcOrder        = "order"
	svcInventory    = "inventory"
	svcPayment      = "payment"
	svcFulfillment  = "fulfillment"
	svcNotification = "notification"
)

var serviceNames = []string{svcOrder, svcInventory, svcPayment, svcFulfillment, svcNotification}

// problem is an RFC 9457 problem document, as the API answers its errors.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// apiError is an answer of the API other than 2xx, or no answer at all (Status 0).
type apiError struct {
	Service string
	Status  int
	Problem problem
	Body    []byte // the answer as it came
	Err     error  // the transport's failure, when there was no answer
}

func (e *apiError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s service unreachable: %v", e.Service, e.Err)
	}
	msg := fmt.Sprintf("%s service answered %d", e.Service, e.Status)
	if e.Problem.Title != "" {
		msg += ": " + e.Problem.Title
	}
	if e.Problem.Detail != "" {
		msg += " (" + e.Problem.Detail + ")"
	}
	for _, f := range e.Problem.Errors {
		msg += "; " + f.Field + ": " + f.Message
	}
	if e.Status == http.StatusNotFound && e.Problem.Title == "Not served here" && slices.Contains(serviceNames, e.Service) {
		msg += ": tell the console where the " + e.Service + " service runs (--console-" + e.Service + "-url)"
	}
	return msg
}

// refused reports whether err is the API refusing the caller's token (or its absence): then the
// console shows the login prompt and nothing else.
func refused(err error) (*apiError, bool) {
	var e *apiError
	if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
		return e, true
	}
	return nil, false
}

// notFound reports whether err is a 404: an endpoint an older server lacks, or one not served at
// the address the console was given for a service.
func notFound(err error) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// session is one console request's view of the API: the services' base URLs and the caller's
// Authorization header, which every call forwards so that the API, not the console, decides what
// the caller may see.
type session struct {
	ctx    context.Context
	client *http.Client
	urls   map[string]string // by service
	authz  string
}

// session resolves the services' URLs for r: a service without a configured URL is served by
// this process, at the address r came in on.
func (c *Console) session(r *http.Request) *session {
	own := ownURL(r)
	urls := make(map[string]string, len(serviceNames))
	for _, svc := range serviceNames {
		u := strings.TrimRight(c.cfg.URLs[svc], "/")
		if u == "" {
			u = own
		}
		urls[svc] = u
	}
	return &session{ctx: r.Context(), client: c.client, urls: urls, authz: r.Header.Get("Authorization")}
}

// ownURL is this process's base URL as seen by r's connection; the listener's address is known
// only once it listens, and every request carries it.
func ownURL(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return "http://" + a.String()
	}
	return "" // never r.Host: the client writes it, and the console would call where it says
}

// get reads path of service's API into out.
func (s *session) get(service, path string, out any) error {
	return s.send(http.MethodGet, service, path, nil, nil, out)
}

// send calls service's API and decodes a 2xx answer's JSON into out (when not nil).
func (s *session) send(method, service, path string, body any, header http.Header, out any) error {
	base := s.urls[service]
	if base == "" {
		return &apiError{Service: service, Err: errors.New("no URL configured")}
	}
	return s.sendTo(method, service, base, path, body, header, out)
}

// sendTo is send to a given process's base URL.
func (s *session) sendTo(method, service, base, path string, body any, header http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.ctx, method, base+path, rd)
	if err != nil {
		return &apiError{Service: service, Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if s.authz != "" {
		req.Header.Set("Authorization", s.authz)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return &apiError{Service: service, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &apiError{Service: service, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Service: service, Status: resp.StatusCode, Body: raw}
		_ = json.Unmarshal(raw, &e.Problem)
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &apiError{Service: service, Err: fmt.Errorf("decode %s %s: %w", method, path, err)}
	}
	return nil
}

// maxAnswer bounds what the console reads of one API answer (a page of dead letters with their
// payloads is the largest).
const maxAnswer = 32 << 20

// listPage is the most items the console asks a list operation for at once (the API's maximum
// size), and maxListPages how many pages of one list it reads: a list longer than that shows its
// first maxListPages x listPage items.
const (
	listPage     = 100
	maxListPages = 100
)

// allPages reads the pages of the list operation at path, one call of fetch each, until it has
// the total the pages report, or a page comes back short (an older server that does not page
// sends everything in one, with no total, and is asked once).
func allPages[T any](path string, fetch func(path string, out any) error) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []T
	for page := 1; page <= maxListPages; page++ {
		var l list[T]
		if err := fetch(fmt.Sprintf("%s%ssize=%d&page=%d", path, sep, listPage, page), &l); err != nil {
			return nil, err
		}
		all = append(all, l.Items...)
		if l.Total == nil || int64(len(all)) >= *l.Total || len(l.Items) < listPage {
			break
		}
	}
	return all, nil
}
