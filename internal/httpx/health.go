package httpx

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ordersys/ordersys/api"
)

// Check is one dependency readiness depends on.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Health answers the liveness and readiness probes.
type Health struct {
	Checks []Check
	// Log gets why a check failed, which the answer leaves out: anyone may ask, and a driver's
	// error names the database's user, host and port (nil: not logged).
	Log *slog.Logger

	mu     sync.Mutex
	logged map[string]time.Time // when each failing check was last logged
}

// failureLogEvery is how often a check that goes on failing is logged again: probes come every
// few seconds.
const failureLogEvery = time.Minute

// Liveness is GET /api/utility/liveness: the process is serving.
func (h *Health) Liveness(context.Context, api.LivenessRequestObject) (api.LivenessResponseObject, error) {
	return api.Liveness200JSONResponse{Status: api.Ok}, nil
}

// Readiness is GET /api/utility/readiness: every database and the broker answer within a second.
// A check that fails reads "unavailable"; why goes to the log.
func (h *Health) Readiness(ctx context.Context, _ api.ReadinessRequestObject) (api.ReadinessResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	results := make(map[string]string, len(h.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	for _, c := range h.Checks {
		wg.Go(func() {
			result := "ok"
			err := c.Ping(ctx)
			if err != nil {
				result = "unavailable"
			}
			h.report(c.Name, err)
			mu.Lock()
			defer mu.Unlock()
			results[c.Name] = result
			ready = ready && result == "ok"
		})
	}
	wg.Wait()
	if !ready {
		return api.Readiness503JSONResponse{Status: api.Unavailable, Checks: &results}, nil
	}
	return api.Readiness200JSONResponse{Status: api.Ok, Checks: &results}, nil
}

// report logs a check that starts failing at warn, again at most every failureLogEvery while it
// goes on failing, and its recovery at info.
func (h *Health) report(check string, err error) {
	if h.Log == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	last, failing := h.logged[check]
	switch {
	case err == nil && failing:
		delete(h.logged, check)
		h.Log.Info("readiness check passes again", "check", check)
	case err != nil && (!failing || time.Since(last) >= failureLogEvery):
		if h.logged == nil {
			h.logged = map[string]time.Time{}
		}
		h.logged[check] = time.Now()
		h.Log.Warn("readiness check failed", "check", check, "err", err)
	}
}
