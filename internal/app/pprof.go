package app

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/ordersys/ordersys/internal/metrics"
)

// pprofHandler is Go's profiles, served on a listener of their own so they are never exposed
// with the API.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// metricsHandler is GET /metrics alone, for --metrics-addr.
func metricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// sideListeners are what a process serves apart from its API: profiles and metrics, each on the
// address its flag gives (none when empty).
type sideListeners []*http.Server

func (s *sideListeners) serve(what, addr string, h http.Handler, limits HTTPLimits) error {
	if addr == "" {
		return nil
	}
	limits = limits.side()
	ln, err := limits.listen(addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", what, err)
	}
	srv := limits.server(h)
	srv.Addr = ln.Addr().String() // the address it got, for port 0
	go func() { _ = srv.Serve(ln) }()
	*s = append(*s, srv)
	return nil
}

func (s sideListeners) close() error {
	var err error
	for _, srv := range s {
		if e := srv.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}
