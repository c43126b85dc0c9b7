package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

// HTTPLimits bound what clients can hold of a process's HTTP server, so that clients that are
// slow, idle, many or send huge headers are dropped while others are still answered. Zero fields
// keep the defaults.
type HTTPLimits struct {
	// ReadHeaderTimeout is how long a client has to send a request's headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client has to send a whole request, body included (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of its answer
	// (default 60 s: room for a wait of 30 s, a long poll's longest). A handler that must take
	// longer extends its own with http.ResponseController.SetWriteDeadline.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next request (default 2 min).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers (default 32 KiB: a bearer token of a few
	// KiB fits; Go's own default, 1 MiB, let 600 clients take 480 MB).
	MaxHeaderBytes int
	// MaxConns bounds the connections open at once; more wait to be accepted (default: 3/4 of the
	// process's open-file limit, at most 10,000, so that its database and Kafka connections
	// always get descriptors).
	MaxConns int
}

// HTTP limits' defaults.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 32 << 10
	// minHeaderBytes keeps room for a bearer token and the usual headers.
	minHeaderBytes = 4 << 10
	// maxDefaultConns bounds the default cap where the open-file limit is high: each connection
	// costs memory too.
	maxDefaultConns = 10_000
	// sideMaxConns caps the operators' listeners (metrics, profiles): a few scrapers at a time.
	sideMaxConns = 64
)

// DefaultMaxConns is MaxConns's default on this process: 3/4 of its open-file limit (at least
// 256 descriptors, or half of a tiny limit, stay free), at most 10,000.
func DefaultMaxConns() int {
	limit := openFileLimit()
	if limit <= 0 {
		return maxDefaultConns
	}
	return min(maxDefaultConns, limit-reservedFiles(limit))
}

// reservedFiles are the descriptors a cap must leave for the rest of a process with limit.
func reservedFiles(limit int) int { return max(limit/4, min(256, limit/2)) }

// openFileLimit is the process's limit on open descriptors (Go raises the soft limit to the hard
// one at start), or 0 where unknown or unlimited.
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}

func (l *HTTPLimits) defaults() {
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	set(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns()
	}
}

// Validate refuses limits that contradict themselves or the process: a negative field, a header
// timeout past the whole request's, a write timeout shorter than the read one (a body sent in
// time could not be answered), a header limit too small for a bearer token, or more connections
// than the open-file limit leaves room for. Zero fields are valid: the check applies to the
// defaults they keep.
func (l HTTPLimits) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read header timeout", l.ReadHeaderTimeout}, {"read timeout", l.ReadTimeout},
		{"write timeout", l.WriteTimeout}, {"idle timeout", l.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("HTTP %s %v: must not be negative", d.name, d.v))
		}
	}
	if l.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("HTTP max header bytes %d: must not be negative", l.MaxHeaderBytes))
	}
	if l.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("HTTP max connections %d: must not be negative", l.MaxConns))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	l.defaults()
	if l.ReadHeaderTimeout > l.ReadTimeout {
		errs = append(errs, fmt.Errorf("HTTP read header timeout %v is above the read timeout %v, which bounds the headers too", l.ReadHeaderTimeout, l.ReadTimeout))
	}
	if l.WriteTimeout < l.ReadTimeout {
		errs = append(errs, fmt.Errorf("HTTP write timeout %v is below the read timeout %v: a request read in time could not be answered", l.WriteTimeout, l.ReadTimeout))
	}
	if l.MaxHeaderBytes < minHeaderBytes {
		errs = append(errs, fmt.Errorf("HTTP max header bytes %d: want at least %d, room for a bearer token", l.MaxHeaderBytes, minHeaderBytes))
	}
	if limit := openFileLimit(); limit > 0 && l.MaxConns > limit-reservedFiles(limit) {
		errs = append(errs, fmt.Errorf("HTTP max connections %d: want at most %d, leaving %d of the open-file limit %d for databases, Kafka and files",
			l.MaxConns, limit-reservedFiles(limit), reservedFiles(limit), limit))
	}
	return errors.Join(errs...)
}

// listen listens on addr, holding at most l.MaxConns connections open: the next waits in the
// kernel's queue until one closes, rather than the process running out of descriptors (and the
// server's idleEvictor closes an idle one to make room).
func (l HTTPLimits) listen(addr string) (net.Listener, error) {
	l.defaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(ln, l.MaxConns), nil
}

// server is an HTTP server of h within l.
func (l HTTPLimits) server(h http.Handler) *http.Server {
	l.defaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ConnState:         newIdleEvictor(l.MaxConns).track,
	}
}

// side are the limits of the operators' listeners: the API's, with a few connections. Profiles
// longer than WriteTimeout are refused by net/http/pprof, saying so.
func (l HTTPLimits) side() HTTPLimits {
	l.defaults()
	l.MaxConns = min(l.MaxConns, sideMaxConns)
	return l
}
