package loadgen

import (
	"net"
	"net/http"
	"time"
)

// newClient returns the one client shared by every create and poll, so
// connections are reused instead of each goroutine paying for a handshake.
func newClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// No Proxy: an HTTP(S)_PROXY from the environment would route the
		// load somewhere other than --target.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512, // the default of 2 would close and redial almost every request at load
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A redirect could point anywhere; the tool must only talk to the
		// target, and a 3xx is a failed create anyway.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
