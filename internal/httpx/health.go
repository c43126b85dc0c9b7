package httpx

import (
	"context"
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
type Health struct{ Checks []Check }

// Liveness is GET /api/utility/liveness: the process is serving.
func (h *Health) Liveness(context.Context, api.LivenessRequestObject) (api.LivenessResponseObject, error) {
	return api.Liveness200JSONResponse{Status: api.Ok}, nil
}

// Readiness is GET /api/utility/readiness: every database and the broker answer within a second.
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
			if err := c.Ping(ctx); err != nil {
				result = err.Error()
			}
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
