// Package app wires the services into the ordersys command: dev, serve, broker, migrate, dlq,
// loadgen and chaos. A process that runs services (dev, serve) starts them as a node (node.go)
// from their modules (services.go) and serves their API operations on one listener (routes.go).
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ordersys/ordersys/internal/loadgen"
	"github.com/ordersys/ordersys/internal/tracing"
)

const usage = `ordersys: event-driven order processing

Usage:
  ordersys dev [flags]                 everything in one process: five services, an embedded
                                       broker and SQLite; needs nothing but this binary
  ordersys serve [flags] SERVICE...    the named services (order, payment, inventory,
                                       fulfillment, notification; none means all) on PostgreSQL
                                       and a Kafka cluster; run more processes to scale out
  ordersys broker [flags]              only the embedded Kafka-protocol broker, persisted, for
                                       multi-process runs without a Kafka cluster
  ordersys migrate [flags] [SERVICE...] apply the services' database migrations
  ordersys dlq list|replay [flags]     list dead letters, or replay one (ID) or all (--all)
  ordersys loadgen [flags]             post orders at a steady rate and report throughput and
                                       latency
  ordersys chaos [flags]               the production topology on this machine under load while
                                       processes, the broker and PostgreSQL are killed, frozen
                                       and restarted; then an audit of every service's database
  ordersys health [flags]              exit 0 if the dev or serve process at --addr is ready
                                       (a container healthcheck)
  ordersys token --sub UUID [flags]    mint a bearer token with the development key of
                                       'ordersys dev --auth jwt'
  ordersys version                     the version and the commit it was built from

Run 'ordersys COMMAND -h' for a command's flags. Every flag but loadgen's can also be set as
ORDERSYS_<FLAG>, e.g. ORDERSYS_DATABASE_URL for --database-url. ORDERSYS_TIMER_SLACK (default
4ms, 1ms for loadgen; 0 for the system's) is the Linux timer slack that dev, serve, broker and
loadgen set on themselves at start.
`

// ErrUsage is returned for a wrong command line once what is wrong has been printed (exit status 2).
var ErrUsage = errors.New("usage")

// Run runs the ordersys command line. It is main() without the process: tests call it directly.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	err := run(ctx, args[1], args[2:], getenv, stdout, stderr)
	if u, ok := errors.AsType[usageError](err); ok {
		fmt.Fprintf(stderr, "ordersys %s: %v\n", args[1], u.error)
		return ErrUsage
	}
	return err
}

func run(ctx context.Context, cmd string, rest []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch cmd {
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "broker":
		return runBroker(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "dlq":
		return runDLQ(ctx, rest, getenv, stdout, stderr)
	case "health":
		return runHealth(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "chaos":
		return runChaos(ctx, rest, getenv, stdout, stderr)
	case "loadgen":
		if err := loadgen.Command(ctx, rest, stdout, stderr); errors.Is(err, loadgen.ErrUsage) {
			return ErrUsage
		} else {
			return err
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "ordersys", Version())
		return nil
	default:
		fmt.Fprintf(stderr, "ordersys: unknown command %q\n\n%s", cmd, usage)
		return ErrUsage
	}
}

// IsUsage reports whether err only means the command line was wrong (exit status 2); Run has
// printed what is wrong.
func IsUsage(err error) bool { return errors.Is(err, ErrUsage) }

// IsHelp reports whether the command line asked for a command's usage, which Run printed (exit
// status 0).
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

// logSettings are the --log-* flags of a command that runs services.
type logSettings struct {
	level, format string
}

// logFlags declares the logging flags; format is the command's default: text for a person at a
// terminal (dev), JSON for a log pipeline (serve).
func logFlags(fs *flagSet, s *logSettings, format string) {
	fs.String(&s.level, "log-level", "info", "debug, info, warn or error")
	fs.String(&s.format, "log-format", format, "json (one object per line) or text")
}

func (s logSettings) check() error {
	if _, err := s.slogLevel(); err != nil {
		return usageError{err}
	}
	if s.format != "json" && s.format != "text" {
		return usageError{fmt.Errorf("--log-format %q: want json or text", s.format)}
	}
	return nil
}

func (s logSettings) slogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s.level))); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.level)
	}
	return l, nil
}

func (s logSettings) logger(w io.Writer) (*slog.Logger, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	level, _ := s.slogLevel()
	opts := &slog.HandlerOptions{Level: level}
	if s.format == "json" {
		return slog.New(tracing.LogHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return slog.New(tracing.LogHandler(slog.NewTextHandler(w, opts))), nil
}
