package httpx

import (
	"log/slog"
	"net/http"
	"time"
)

// Observe calls done for every request once it is answered, with the status and body size of the
// answer and how long it took.
func Observe(next http.Handler, done func(r *http.Request, status, bytes int, took time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		done(r, rec.status, rec.bytes, time.Since(start))
	})
}

// AccessLog logs one line per request, once it is answered: for finding a client's requests, not
// for counting them (the metrics do that, without a line per request).
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return Observe(next, func(r *http.Request, status, bytes int, took time.Duration) {
		log.Info("http request", "method", r.Method, "path", r.URL.Path, "status", status, "bytes", bytes,
			"duration_ms", float64(took.Microseconds())/1000, "remote", r.RemoteAddr,
			"idempotency_key", r.Header.Get("Idempotency-Key"))
	})
}

// statusRecorder remembers what a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer (flushes, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
