// Package app wires the services into the ordersys command: `dev`, `loadgen`, and (later) `serve`,
// `broker` and `migrate`.
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
)

const usage = `ordersys: event-driven order processing

Usage:
  ordersys dev [flags]        all five services, an embedded broker and SQLite, in one process
  ordersys loadgen [flags]    post orders at a steady rate and report throughput and latency

Run 'ordersys COMMAND -h' for a command's flags. Every flag can also be set as ORDERSYS_<FLAG>.
`

// ErrUsage is returned for a command line that names no known command.
var ErrUsage = errors.New("usage")

// Run runs the ordersys command line. It is main() without the process: tests call it directly.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "loadgen":
		return loadgen.Command(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "ordersys: unknown command %q\n\n%s", cmd, usage)
		return ErrUsage
	}
}

func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg DevConfig
	var level string
	fs := newFlagSet("dev", getenv, stderr)
	fs.String(&cfg.Addr, "addr", "127.0.0.1:3001", "HTTP listen address")
	fs.String(&cfg.DataDir, "data-dir", "./data", "directory for the SQLite databases and the broker's log")
	fs.String(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka broker listen address")
	fs.Int(&cfg.Partitions, "partitions", 1, "partitions per topic (the embedded broker syncs each partition's batch to disk, so more partitions cost throughput in one process)")
	fs.String(&level, "log-level", "info", "debug, info, warn or error")
	fs.String(&cfg.PprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address (off when empty)")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, level)
	if err != nil {
		return err
	}
	cfg.Log = log

	d, err := StartDev(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `ordersys dev is running
  API         http://%[1]s/api/v1/orders
  Swagger UI  http://%[1]s/docs
  Kafka       %[2]s  (embedded broker: any Kafka client can watch the topics)
  Data        %[3]s
Press Ctrl-C to stop.
`, d.Addr, d.KafkaAddr, cfg.DataDir)
	waitErr := d.Wait(ctx)
	log.Info("shutting down")
	return errors.Join(waitErr, d.Close())
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// IsUsage reports whether err only means the command line was wrong (exit status 2).
func IsUsage(err error) bool { return errors.Is(err, ErrUsage) || errors.Is(err, flag.ErrHelp) }
