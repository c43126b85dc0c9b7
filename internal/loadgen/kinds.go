package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Failure kinds are map keys in the summary, so they must stay a small,
// bounded set: transport errors are reduced to a category rather than their
// message, which carries ports and addresses.

const (
	kindDropped     = "dropped: too many in flight"
	kindNotTerminal = "not terminal"
	kindInterrupted = "interrupted before terminal"
)

// transportKind names why a request got no usable response. ctx is the run's
// context: its cancellation is the operator's Ctrl-C, not a server problem.
func transportKind(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dnsErr):
		return "dns error"
	default:
		return "transport error"
	}
}

// maxReasonLen keeps a verbose failureReason from turning into a huge key.
const maxReasonLen = 80

func terminalFailureKind(status, reason string) string {
	if reason == "" {
		return "order " + status
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen] + "…"
	}
	return "order " + status + ": " + reason
}
