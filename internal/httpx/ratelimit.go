package httpx

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per client: RPS requests a second on average, Burst at once.
type RateLimit struct {
	RPS   float64
	Burst int // default: RPS rounded up
}

// idleClient is how long a client's bucket is kept after its last request: by then it is full
// again, so forgetting it changes nothing, and the buckets of clients that come and go stay few.
const idleClient = time.Minute

// Limit answers 429 with Retry-After to a client that exceeds l, and tells every client where it
// stands with the RateLimit-* headers of the IETF httpapi draft. key names the client of a
// request ("" for requests that are not limited).
func (l RateLimit) Limit(key func(*http.Request) string, next http.Handler) http.Handler {
	if l.RPS <= 0 {
		return next
	}
	burst := l.Burst
	if burst <= 0 {
		burst = int(math.Ceil(l.RPS))
	}
	var (
		mu      sync.Mutex
		clients = map[string]*bucket{}
		swept   = time.Now()
	)
	policy := strconv.Itoa(burst) + ";w=" + strconv.Itoa(max(1, int(math.Ceil(float64(burst)/l.RPS))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := key(r)
		if k == "" {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		mu.Lock()
		if now.Sub(swept) > idleClient {
			for c, b := range clients {
				if now.Sub(b.last) > idleClient {
					delete(clients, c)
				}
			}
			swept = now
		}
		b := clients[k]
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(l.RPS), burst)}
			clients[k] = b
		}
		b.last = now
		allowed := b.lim.AllowN(now, 1)
		tokens := b.lim.TokensAt(now)
		mu.Unlock()

		h := w.Header()
		h.Set("RateLimit-Policy", policy)
		h.Set("RateLimit-Limit", strconv.Itoa(burst))
		h.Set("RateLimit-Remaining", strconv.Itoa(max(0, int(tokens))))
		h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((float64(burst)-tokens)/l.RPS))))
		if !allowed {
			h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil((1-tokens)/l.RPS)))))
			WriteProblem(w, NewProblem(http.StatusTooManyRequests, TypeRateLimited, "Too many requests",
				"this client sent more requests than its rate limit allows; retry after Retry-After seconds"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}
