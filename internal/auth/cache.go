package auth

import (
	"sync"
	"time"
)

// A client sends the same token with every request for as long as it lives (an hour, typically):
// its signature needs checking once, not on each request. The cache keeps a checked token's
// principal for at most cacheFor, and never past the token's expiry, so a key dropped from the set
// stops admitting its tokens within cacheFor.
const (
	cacheFor  = time.Minute
	cacheSize = 10_000 // a few MB of tokens at most
)

type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	p     Principal
	until time.Time
}

func (c *tokenCache) get(token string, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[token]
	if !ok || !now.Before(t.until) {
		return Principal{}, false
	}
	return t.p, true
}

func (c *tokenCache) put(token string, p Principal, until time.Time, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedToken)
	}
	if len(c.m) >= cacheSize {
		for k, t := range c.m {
			if !now.Before(t.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full of live tokens: forget some, they are checked again
			if len(c.m) < cacheSize*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[token] = cachedToken{p: p, until: until}
}
