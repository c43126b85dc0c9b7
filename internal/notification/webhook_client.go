package notification

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxAnswer is how much of an endpoint's answer is read: its status is what counts, and a few
// hundred bytes of its body help whoever reads the delivery's attempts.
const maxAnswer = 1024

// errRefusedAddress: the target resolved only to addresses the guard refuses.
var errRefusedAddress = errors.New("refused")

// poster makes one attempt: a signed POST, with the guard on where it connects.
type poster struct {
	client *http.Client
}

// newPoster is a client that connects only to the addresses cfg allows (checked after DNS
// resolution, and the connection made to the address checked, so a name that changes its answer
// in between gains nothing), never through a proxy, never following a redirect, and bounding
// each attempt by cfg.Timeout.
func newPoster(cfg Config) *poster {
	resolve := cfg.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", portText, err)
		}
		addrs := []netip.Addr{}
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = append(addrs, ip)
		} else if addrs, err = resolve(ctx, host); err != nil {
			return nil, err
		}
		var failures []error
		for _, ip := range addrs {
			ip = ip.Unmap()
			if !cfg.AllowPrivate && !public(ip) {
				failures = append(failures, fmt.Errorf("%w: %s is not a public address (--webhook-allow-private allows it)", errRefusedAddress, ip))
				continue
			}
			conn, err := dialer.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
			if err == nil {
				return conn, nil
			}
			failures = append(failures, err)
		}
		if len(failures) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		return nil, errors.Join(failures...)
	}
	return &poster{client: &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dial,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    cfg.Timeout,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxIdleConnsPerHost:    4,
			MaxResponseHeaderBytes: 16 << 10,
			IdleConnTimeout:        90 * time.Second,
		},
		// A redirect would take the delivery somewhere its subscription did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is what one attempt got: the status (0 for none) and, unless it was a 2xx, why not.
type answer struct {
	status int
	took   time.Duration
	err    string
}

// post sends body to url with headers and reads at most maxAnswer bytes of the answer.
func (p *poster) post(ctx context.Context, url string, headers http.Header, body []byte) answer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{took: time.Since(start), err: err.Error()}
	}
	req.Header = headers
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ordersys-webhooks")
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{took: time.Since(start), err: err.Error()}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	a := answer{status: resp.StatusCode, took: time.Since(start)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.err = strings.TrimSpace(resp.Status + ": " + printable(string(text)))
	}
	return a
}

// printable is an endpoint's text as it is stored: valid UTF-8 without control characters
// (PostgreSQL refuses a NUL in text).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// public reports whether ip is an address on the public internet: not private, loopback,
// link-local, multicast, unspecified, or in a range reserved for special use.
func public(ip netip.Addr) bool {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// reserved are special-use ranges that IsGlobalUnicast and IsPrivate let through (RFC 6890 and
// successors): shared address space (carrier NAT), IETF protocol assignments, benchmarking,
// documentation, and the IPv6 prefixes that carry an IPv4 address (NAT64, 6to4, Teredo,
// IPv4-compatible) or are deprecated (site-local), which could reach a private one.
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2001:db8::/32",
		"::/96", "2002::/16", "2001::/32", "fec0::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()
