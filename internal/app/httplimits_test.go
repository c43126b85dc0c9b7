package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/httpx"
)

// shrunkLimits are HTTPLimits small enough that a test sees abusive clients dropped quickly.
var shrunkLimits = HTTPLimits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond,
	WriteTimeout: time.Second, IdleTimeout: 600 * time.Millisecond, MaxHeaderBytes: 16 << 10, MaxConns: 50}

// TestHTTPLimitsHoldUnderAbuse: clients that send their headers or bodies slowly, connect and say
// nothing, keep a connection idle, or send huge headers, more of them than the connection cap,
// are each dropped within a bound; meanwhile the API still answers another client, the server
// never holds more connections than its cap nor much memory, and the memory is back once they
// have gone.
func TestHTTPLimitsHoldUnderAbuse(t *testing.T) {
	const (
		clients = 150
		// bound is how long a client may be held, and another kept waiting; the old settings
		// held them 10 s (headers, or nothing sent), 2 min (idle after a request) or for ever
		// (bodies).
		bound = 8 * time.Second
	)
	every := func(d time.Duration, line string) func(net.Conn, <-chan struct{}) {
		return func(c net.Conn, stop <-chan struct{}) {
			for {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(d):
				}
			}
		}
	}
	once := func(b []byte) func(net.Conn, <-chan struct{}) {
		return func(c net.Conn, _ <-chan struct{}) { _, _ = c.Write(b) }
	}
	const get = "GET /api/utility/liveness HTTP/1.1\r\nHost: ordersys\r\n"
	// Just within Go's default limit of 1 MiB, as the clients that took 480 MB sent; one copy,
	// shared, so that the clients' own memory does not count.
	big := []byte(get + "X-Big: " + strings.Repeat("a", 1<<20-64) + "\r\n")
	for _, c := range []struct {
		name string
		// misbehave is what each client sends, until stop closes or the server hangs up.
		misbehave func(c net.Conn, stop <-chan struct{})
	}{
		{"slow headers", func(c net.Conn, stop <-chan struct{}) {
			_, _ = io.WriteString(c, get)
			every(100*time.Millisecond, "X-Slow: 1\r\n")(c, stop)
		}},
		{"slow bodies", func(c net.Conn, stop <-chan struct{}) {
			_, _ = io.WriteString(c, "POST /api/v1/orders/create HTTP/1.1\r\nHost: ordersys\r\n"+
				"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
			every(100*time.Millisecond, " ")(c, stop)
		}},
		{"idle connections", func(net.Conn, <-chan struct{}) {}},
		{"idle after a request", once([]byte(get + "\r\n"))},
		{"large headers", once(big)},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := serveLimited(t, shrunkLimits)
			if _, err := liveness(addr, bound); err != nil {
				t.Fatal(err)
			}
			baseHeap, baseFiles := heapInUse(), openFiles()
			watch := watchResources()

			start := time.Now()
			conns := make([]net.Conn, clients)
			for i := range conns {
				var err error
				if conns[i], err = net.DialTimeout("tcp", addr, bound); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
			var wg sync.WaitGroup
			held := make([]time.Duration, clients) // how long the server kept each
			dropped := make([]bool, clients)
			for i, conn := range conns {
				wg.Go(func() { held[i], dropped[i] = misbehave(conn, start.Add(bound), c.misbehave) })
			}
			waited, err := liveness(addr, bound)
			if err != nil {
				t.Errorf("liveness while %d clients misbehave: %v after %v", clients, err, waited.Round(time.Millisecond))
			}
			wg.Wait()
			peakHeap, peakFiles := watch()

			var longest time.Duration
			kept := 0
			for i, d := range held {
				longest = max(longest, d)
				if !dropped[i] {
					kept++
				}
			}
			if kept > 0 {
				t.Errorf("%d of %d clients were still connected after %v", kept, clients, bound)
			}
			// Each client's own end is a descriptor of this process too.
			if baseFiles > 0 && peakFiles > baseFiles+clients+shrunkLimits.MaxConns+30 {
				t.Errorf("%d descriptors open at the peak, from %d: the server held more than its %d connections",
					peakFiles, baseFiles, shrunkLimits.MaxConns)
			}
			if grew := peakHeap - baseHeap; grew > 64<<20 {
				t.Errorf("the heap grew by %d MiB while the clients misbehaved", grew>>20)
			}
			// The server lets go of what they cost once they have gone.
			var after uint64
			poll(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
				after = heapInUse()
				return after <= baseHeap+16<<20, fmt.Sprintf("heap in use %d MiB, from %d MiB before the clients came", after>>20, baseHeap>>20)
			})
			t.Logf("liveness answered in %v; clients held at most %v; peak: %d descriptors (from %d), heap %d MiB (from %d, after %d)",
				waited.Round(time.Millisecond), longest.Round(time.Millisecond), peakFiles, baseFiles, peakHeap>>20, baseHeap>>20, after>>20)
		})
	}
}

// TestHTTPLimitsOnEveryListener: dev's API, metrics and profiles listeners all take the limits
// given to it: a header past the limit is refused (431) on each.
func TestHTTPLimitsOnEveryListener(t *testing.T) {
	d := startDevWith(t, DevConfig{HTTP: HTTPLimits{MaxHeaderBytes: 4 << 10}, MetricsAddr: "127.0.0.1:0", PprofAddr: "127.0.0.1:0"})
	if len(d.side) != 2 {
		t.Fatalf("%d side listeners, want metrics and pprof", len(d.side))
	}
	for _, srv := range append([]*http.Server{d.http.srv}, d.side...) {
		if srv.ReadTimeout != DefaultReadTimeout || srv.WriteTimeout != DefaultWriteTimeout || srv.MaxHeaderBytes != 4<<10 {
			t.Errorf("server %s: read timeout %v, write timeout %v, max header bytes %d", srv.Addr,
				srv.ReadTimeout, srv.WriteTimeout, srv.MaxHeaderBytes)
		}
	}
	for _, url := range []string{"http://" + d.Addr + "/api/utility/liveness",
		"http://" + d.side[0].Addr + "/debug/pprof/", "http://" + d.side[1].Addr + "/metrics"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("GET %s with 16 KiB of headers: %s, want 431", url, resp.Status)
		}
	}
}

// TestHTTPLimitsValidate: the defaults are what HTTPLimits says, and limits that contradict
// themselves or the process are refused, saying why; so are zero flags, which state their defaults.
func TestHTTPLimitsValidate(t *testing.T) {
	var l HTTPLimits
	l.defaults()
	want := HTTPLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10, MaxConns: DefaultMaxConns()}
	if l != want {
		t.Errorf("defaults %+v, want %+v", l, want)
	}
	if limit := openFileLimit(); limit > 0 && (l.MaxConns >= limit || l.MaxConns < 1) {
		t.Errorf("default max connections %d with an open-file limit of %d", l.MaxConns, limit)
	}
	for _, ok := range []HTTPLimits{{}, shrunkLimits, {WriteTimeout: 30 * time.Second}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		l    HTTPLimits
		want string
	}{
		{HTTPLimits{ReadTimeout: -time.Second}, "read timeout -1s: must not be negative"},
		{HTTPLimits{MaxConns: -1}, "max connections -1: must not be negative"},
		{HTTPLimits{ReadHeaderTimeout: time.Minute}, "read header timeout 1m0s is above the read timeout 30s"},
		{HTTPLimits{WriteTimeout: 10 * time.Second}, "write timeout 10s is below the read timeout 30s"},
		{HTTPLimits{MaxHeaderBytes: 1000}, "max header bytes 1000: want at least 4096"},
		{HTTPLimits{MaxConns: 1 << 29}, "max connections 536870912: want at most"},
	} {
		if c.l.MaxConns == 1<<29 && openFileLimit() <= 0 {
			continue // no open-file limit to exceed here
		}
		if err := c.l.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.l, err, c.want)
		}
	}

	none := func(string) string { return "" }
	cfg, _, err := parseServe([]string{"--auth", "none", "--http-read-timeout", "15s", "--http-max-conns", "100"}, none, io.Discard)
	if err != nil || cfg.HTTP.ReadTimeout != 15*time.Second || cfg.HTTP.MaxConns != 100 || cfg.HTTP.WriteTimeout != DefaultWriteTimeout {
		t.Errorf("serve's HTTP flags: %+v, %v", cfg.HTTP, err)
	}
	for _, bad := range [][]string{{"--http-max-conns", "0"}, {"--http-idle-timeout", "0s"},
		{"--http-read-timeout", "2m"}, {"--http-read-timeout", "5s"}} {
		if _, _, err := parseDev(bad, none, io.Discard); err == nil {
			t.Errorf("dev %q was accepted", bad)
		}
	}
}

// serveLimited serves the API's routes (the probes, 404 for the services' operations) on a
// listener of its own within limits, until the test ends.
func serveLimited(t *testing.T, limits HTTPLimits) string {
	t.Helper()
	handler, err := routes(newServer(nil, admin{}, &httpx.Health{}), testLogger(), routeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := listenAndServe("127.0.0.1:0", handler, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.close() })
	return h.addr
}

// misbehave runs send on conn until the server hangs up or deadline passes, and says how long
// the server held the connection and whether it hung up.
func misbehave(conn net.Conn, deadline time.Time, send func(net.Conn, <-chan struct{})) (time.Duration, bool) {
	start := time.Now()
	_ = conn.SetDeadline(deadline)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sent)
		send(conn, stop)
	}()
	_, err := io.Copy(io.Discard, conn) // until the server hangs up
	held := time.Since(start)
	close(stop)
	_ = conn.Close()
	<-sent
	return held, !errors.Is(err, os.ErrDeadlineExceeded)
}

// liveness asks the liveness probe on a connection of its own, failing after bound.
func liveness(addr string, bound time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get("http://" + addr + "/api/utility/liveness")
	if err != nil {
		return time.Since(start), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return time.Since(start), fmt.Errorf("liveness answered %s", resp.Status)
	}
	return time.Since(start), nil
}

// heapInUse is the heap's size in use once garbage is collected.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // a second cycle frees what sync.Pools held
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// openFiles counts this process's open descriptors (0 where /proc is not there).
func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(fds)
}

// watchResources samples the heap in use and the open descriptors until the function it returns
// is called, which returns the peaks.
func watchResources() func() (heap uint64, files int) {
	var heap uint64
	var files int
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heap, files = max(heap, m.HeapInuse), max(files, openFiles())
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() (uint64, int) {
		close(stop)
		<-done
		return heap, files
	}
}

// TestIdleConnectionsMakeRoom: clients that fill the connection cap with kept-alive connections
// they do not use do not shut another client out until their idle timeout: the server closes the
// one idle the longest to let the next in.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	limits := shrunkLimits
	limits.MaxConns, limits.IdleTimeout = 5, time.Minute
	addr := serveLimited(t, limits)
	for i := range limits.MaxConns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /api/utility/liveness HTTP/1.1\r\nHost: ordersys\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle client %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Every place is taken by a connection kept alive and idle for a minute.
	if took, err := liveness(addr, 3*time.Second); err != nil {
		t.Fatalf("another client, with the cap held by idle connections: %v after %v", err, took)
	}
}
