package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// LimitBody reads a request's whole body before anything else does, so that an oversized body is
// refused with 413, a body of the wrong type or charset with 415, and JSON that decoding would
// quietly change (see checkJSON) with 400, ahead of schema validation.
func LimitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				WriteProblem(w, NewProblem(http.StatusRequestEntityTooLarge, TypeTooLarge, "The body is too large",
					fmt.Sprintf("request bodies are limited to %d bytes", MaxBody)))
				return
			}
			WriteProblem(w, NewProblem(http.StatusBadRequest, TypeMalformed, "The body could not be read", err.Error()))
			return
		}
		if len(body) > 0 {
			mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			charset, named := params["charset"]
			if err != nil || mediaType != "application/json" || named && !strings.EqualFold(charset, "utf-8") {
				WriteProblem(w, NewProblem(http.StatusUnsupportedMediaType, TypeMediaType, "Unsupported media type",
					fmt.Sprintf("send application/json in UTF-8, not %q", r.Header.Get("Content-Type"))))
				return
			}
			if p := checkJSON(body); p != nil {
				WriteProblem(w, *p)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
