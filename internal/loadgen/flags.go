package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ordersys/ordersys/internal/auth"
)

// Command parses args (flags below) and runs the load; progress goes to
// stderr once a second, final summary to stdout.
//
// An interrupted run (ctx cancelled) is not an error: the summary of what was
// done is still printed and marked as interrupted. -h returns flag.ErrHelp so
// the caller decides the exit code.
// ErrUsage is returned for a bad flag, once the flag package has printed what is wrong.
var ErrUsage = errors.New("usage")

func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	sum, err := Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	return writeSummary(stdout, sum)
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ordersys loadgen [flags]")
		fmt.Fprintln(fs.Output(), "Posts orders at a constant rate and follows each one to a terminal state.")
		fs.PrintDefaults()
	}

	var cfg Config
	fs.StringVar(&cfg.Target, "target", defaultTarget, "base `URL` of the order API")
	fs.IntVar(&cfg.Rate, "rate", defaultRate, "orders per second")
	fs.DurationVar(&cfg.Duration, "duration", defaultDuration, "how long to send orders (ignored with --orders)")
	fs.IntVar(&cfg.Orders, "orders", 0, "if > 0, stop after `N` orders instead of after --duration")
	fs.DurationVar(&cfg.FollowTimeout, "follow-timeout", defaultFollowTimeout,
		"how long each order is followed to a terminal state; the run ends at most this long after the last create")
	fs.IntVar(&cfg.SKUs, "skus", defaultSKUs, "items use random SKUs among SKU-1..SKU-`N`")
	fs.StringVar(&cfg.Token, "token", "", "bearer `JWT` sent with every request: an ordersys:admin token places orders for any customer")
	var keyDir string
	fs.StringVar(&keyDir, "token-key", "", "mint each customer its own token (orders:read orders:write) with the development key of `DATA_DIR` (ordersys dev --auth jwt --data-dir DATA_DIR)")

	if err := fs.Parse(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	} else if err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("loadgen: unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	// --orders replaces the duration as the stop condition, so asking for
	// both is ambiguous rather than something to silently pick a winner for.
	durationSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			durationSet = true
		}
	})
	var errs []error
	if keyDir != "" {
		key, err := auth.LoadDevKey(keyDir)
		if err != nil {
			return Config{}, err
		}
		cfg.Mint = func(customer string) (string, error) {
			return key.Mint(customer, []string{auth.ScopeRead, auth.ScopeWrite}, time.Hour)
		}
	}
	if durationSet && cfg.Orders > 0 {
		errs = append(errs, errors.New("--duration and --orders are mutually exclusive"))
	}
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("loadgen: invalid flags: %w", err)
	}
	return cfg, nil
}
