package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ordersys/ordersys/internal/chaos"
)

// runChaos is `ordersys chaos`: the production topology on this machine under load and faults,
// then the audit (package chaos). It fails if the audit finds anything wrong.
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg chaos.Config
	var cancelPercent, seed int
	fs := newFlagSet("chaos", getenv, stderr)
	fs.Duration(&cfg.Duration, "duration", 2*time.Minute, "how long to load the system while injecting faults")
	fs.Int(&cfg.Rate, "rate", 40, "orders per second")
	fs.Int(&cancelPercent, "cancel-percent", 20, "percentage of orders cancelled right after their creation")
	fs.Duration(&cfg.FaultGap, "fault-gap", 5*time.Second, "mean time between faults (each is undone before the next)")
	fs.Duration(&cfg.Drain, "drain", 2*time.Minute, "how long orders may take to end once the load stops")
	fs.Int(&cfg.Partitions, "partitions", 2, "partitions per topic (two replicas of payment and inventory need 2)")
	fs.Duration(&cfg.StepTimeout, "step-timeout", 10*time.Second, "the services' --step-timeout")
	fs.Int(&seed, "seed", 0, "seed of the faults and orders (0: from the clock)")
	fs.Int(&cfg.Procs, "procs", 1, "GOMAXPROCS of each ordersys process")
	fs.Bool(&cfg.Keep, "keep", false, "keep the run's directory (logs and data); it is kept anyway if the run fails")
	fs.String(&cfg.Dir, "dir", "", "where to make the run's directory (default: the system's temporary directory)")
	fs.String(&cfg.PGBin, "pg-bin", "", "directory of PostgreSQL's initdb and pg_ctl (default: $ORDERSYS_PG_BIN, the newest /usr/lib/postgresql/*/bin, or pg_config --bindir)")
	fs.String(&cfg.Binary, "binary", "", "the ordersys binary to run the topology with (default: this one)")
	if err := fs.parse(args, false); err != nil {
		return err
	}
	switch {
	case cfg.Duration <= 0, cfg.FaultGap <= 0, cfg.Drain <= 0, cfg.StepTimeout <= 0:
		return usageError{errors.New("--duration, --fault-gap, --drain and --step-timeout must be positive")}
	case cfg.Rate < 1, cfg.Partitions < 1, cfg.Procs < 1:
		return usageError{errors.New("--rate, --partitions and --procs must be at least 1")}
	case cancelPercent < 0 || cancelPercent > 100:
		return usageError{errors.New("--cancel-percent: want 0 to 100")}
	}
	cfg.CancelShare = float64(cancelPercent) / 100
	if cancelPercent == 0 {
		cfg.CancelShare = -1 // none; zero would mean the default
	}
	cfg.Seed = uint64(seed)
	cfg.Log = stderr
	res, err := chaos.Run(ctx, cfg)
	if res != nil && (err == nil || res.Interrupted) {
		res.Write(stdout)
	} else if res != nil && res.Dir != "" {
		fmt.Fprintf(stderr, "chaos: logs and data kept in %s\n", res.Dir)
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return errors.New("chaos: the system did not keep its promises (see above)")
	}
	return nil
}
