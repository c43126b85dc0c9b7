package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// httpServer is the one HTTP listener of a process.
type httpServer struct {
	srv    *http.Server
	addr   string
	served chan error
}

// listenAndServe serves handler on addr within limits.
func listenAndServe(addr string, handler http.Handler, limits HTTPLimits) (*httpServer, error) {
	ln, err := limits.listen(addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listener: %w", err)
	}
	h := &httpServer{srv: limits.server(handler), addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { h.served <- h.srv.Serve(ln) }()
	return h, nil
}

// answerWaitsOnShutdown makes the operations of apis that hold requests open (a long poll) answer
// them at once when the server shuts down, rather than keep the shutdown waiting out their
// timeouts.
func (h *httpServer) answerWaitsOnShutdown(apis []any) {
	for _, a := range apis {
		if w, ok := a.(interface{ StopWaiting() }); ok {
			h.srv.RegisterOnShutdown(w.StopWaiting)
		}
	}
}

// wait blocks until ctx ends (nil), the server fails, or an error comes on failed: a process
// whose consumers have stopped must not go on taking orders that nothing will carry through.
func (h *httpServer) wait(ctx context.Context, failed <-chan error) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	case err := <-h.served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// close stops taking requests and lets those in flight finish, for up to 10 s.
func (h *httpServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}
