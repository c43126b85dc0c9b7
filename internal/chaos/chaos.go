// Package chaos is the fault-injection suite behind `ordersys chaos`: it starts the production
// topology on this machine (a throwaway PostgreSQL, `ordersys broker`, and `ordersys serve` per
// service with two replicas of payment and inventory), loads it with orders and cancels, and
// meanwhile, one fault at a time, kills processes with SIGKILL and starts them again, freezes
// them with SIGSTOP for a few seconds, kills and restarts the broker on its data, and restarts
// PostgreSQL with `pg_ctl restart -m immediate`. Then it lets the system drain and audits every
// service's database (package audit).
//
// Everything listens on 127.0.0.1, and every process it started is stopped when it returns,
// Ctrl-C included; should the run itself be killed, the kernel kills the ordersys processes
// (Linux) and a watchdog stops PostgreSQL.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ordersys/ordersys/internal/audit"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Config is what a run does. Zero fields take the defaults given.
type Config struct {
	Binary      string        // the ordersys binary to run; default: this executable
	Duration    time.Duration // of load with faults; default 2m
	Rate        int           // orders per second; default 40
	CancelShare float64       // of orders cancelled right after their creation; default 0.2, <0 none
	FaultGap    time.Duration // mean time between faults; default 5s
	Drain       time.Duration // how long orders may take to end after the load; default 2m
	Partitions  int           // per topic; default 2, one per replica of payment and inventory
	StepTimeout time.Duration // the saga's --step-timeout; default 10s
	Seed        uint64        // of the faults and the orders; default: from the clock
	Dir         string        // where the run's directory is made; default: the system's temporary one
	Keep        bool          // keep the run's directory (logs, data) even if the run passed
	PGBin       string        // PostgreSQL's initdb and pg_ctl; default: see findPGBin
	Procs       int           // GOMAXPROCS of each ordersys process; default 1
	Log         io.Writer     // progress, a line per fault; default: none
}

func (c Config) withDefaults() (Config, error) {
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, err
		}
		c.Binary = exe
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Duration, 2*time.Minute)
	def(&c.FaultGap, 5*time.Second)
	def(&c.Drain, 2*time.Minute)
	def(&c.StepTimeout, 10*time.Second)
	if c.Rate == 0 {
		c.Rate = 40
	}
	if c.CancelShare == 0 {
		c.CancelShare = 0.2
	}
	if c.Partitions == 0 {
		c.Partitions = 2
	}
	if c.Procs == 0 {
		c.Procs = 1
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch {
	case c.Duration < 0 || c.FaultGap < 0 || c.Drain < 0 || c.StepTimeout < 0:
		return c, errors.New("chaos: durations must be positive")
	case c.Rate < 0 || c.Partitions < 0 || c.Procs < 0:
		return c, errors.New("chaos: rate, partitions and procs must be positive")
	case c.CancelShare > 1:
		return c, errors.New("chaos: the cancel share is at most 1")
	}
	return c, nil
}

// Fault kinds.
const (
	FaultKill     = "kill"     // SIGKILL of a service process, started again after a moment
	FaultStop     = "stop"     // SIGSTOP of a service process or the broker, SIGCONT a few seconds later
	FaultBroker   = "broker"   // SIGKILL of the broker, started again on its data
	FaultPostgres = "postgres" // pg_ctl restart -m immediate
)

var faultKinds = []string{FaultKill, FaultStop, FaultBroker, FaultPostgres}

// Fault is one fault injected.
type Fault struct {
	Kind   string
	Target string        // the process
	At     time.Time     // when it began
	Down   time.Duration // how long until it was undone
	// Stall is the longest time without an order completing in the window from the fault to the
	// next one (for the last, to the end of the drain), counted from the fault at the earliest;
	// StallOpen: completions had not resumed when the next fault came, so the stall was longer.
	Stall     time.Duration
	StallOpen bool
	Err       string // undoing it failed
}

// Result is what a run did and found.
type Result struct {
	Config   Config
	Start    time.Time // of the load
	Faults   []Fault
	Accepted int            // orders answered 201
	Refused  map[string]int // creates refused, by answer (a 503 is a refusal, not an order)
	Unknown  int            // creates with no answer
	Created  int            // of those, the orders that exist (by their Idempotency-Key)
	// RefusedCreated counts creates answered 5xx whose order exists all the same. Such an order
	// is audited like every other; a client that retries with its key gets it.
	RefusedCreated int
	Cancels        map[string]int // cancel requests by answer
	// CancelledIn counts cancelled orders by the step the cancel took them out of, and under
	// "too late" the cancels that came after the order shipped (it completed).
	CancelledIn map[string]int
	Drained     time.Duration // from the end of the load until the audit passed (or Drain ran out)
	Audit       *audit.Report
	// Exits are the processes that died without being killed (each was started again).
	Exits []string
	// Baseline is the longest time without a completion before the first fault.
	Baseline time.Duration
	Dir      string // the run's directory, if kept
	// Interrupted: the run was stopped (Ctrl-C) before its audit.
	Interrupted bool
}

// OK reports whether the audit passed and no process died on its own.
func (r *Result) OK() bool { return r.Audit != nil && r.Audit.OK() && len(r.Exits) == 0 }

// run is one chaos run in progress.
type run struct {
	cfg      Config
	dir      string
	pg       *postgres
	broker   *proc
	services []*proc // order first
	api      string
	rng      *rand.Rand

	mu    sync.Mutex
	exits []string
}

// Run runs the suite. It returns an error if the topology cannot be started or ctx ends (Ctrl-C);
// what the audit found is in the Result, which is nil only if the run could not begin.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pgBin, err := findPGBin(cfg.PGBin)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1))}
	if r.dir, err = os.MkdirTemp(cfg.Dir, "ordersys-chaos-"); err != nil {
		return nil, err
	}
	res = &Result{Config: cfg}
	defer func() {
		// A failed run keeps its logs and data to look at; an interrupted one does not.
		keep := cfg.Keep || ctx.Err() == nil && (err != nil || !res.OK())
		r.stopAll(keep)
		if _, statErr := os.Stat(r.dir); keep && statErr == nil {
			res.Dir = r.dir
		}
	}()
	fmt.Fprintf(cfg.Log, "chaos: starting the topology in %s (seed %d)\n", r.dir, cfg.Seed)
	if r.pg, err = startPostgres(ctx, pgBin, r.dir); err != nil {
		return res, err // its watchdog has removed the directory
	}
	if err := r.startTopology(ctx); err != nil {
		return res, err
	}
	supervised, stopSupervisor := context.WithCancel(ctx)
	supervisorDone := make(chan struct{})
	go func() { defer close(supervisorDone); r.supervise(supervised) }()
	defer func() { stopSupervisor(); <-supervisorDone }() // before stopAll, which is deferred earlier

	// One order through the whole saga first: consumer groups take a few seconds to form.
	l := newLoad(r.api, cfg.CancelShare, cfg.Seed)
	if err := r.warmUp(ctx, l); err != nil {
		return res, err
	}
	fmt.Fprintf(cfg.Log, "chaos: %v of load at %d orders/s, a fault every %v or so\n", cfg.Duration, cfg.Rate, cfg.FaultGap)
	start := time.Now()
	end := start.Add(cfg.Duration)
	res.Start = start
	var wg sync.WaitGroup
	wg.Go(func() { l.run(ctx, ctx, cfg.Rate, end) })
	faults := r.inject(ctx, start, end)
	wg.Wait()
	accepted, unknown, refusedBy, cancels := l.snapshot()
	res.Faults, res.Accepted, res.Refused, res.Unknown, res.Cancels = faults, len(accepted), refusedBy, len(unknown), cancels
	if ctx.Err() != nil {
		res.Interrupted = true
		return res, ctx.Err()
	}
	fmt.Fprintf(cfg.Log, "chaos: load done: %d accepted, %d unknown; draining (up to %v)\n", len(accepted), len(unknown), cfg.Drain)
	stores, err := audit.Open(ctx, r.pg.dsn())
	if err != nil {
		return res, err
	}
	defer stores.Close()
	drainStart := time.Now()
	for {
		rep, err := audit.Check(ctx, stores, audit.Input{Accepted: accepted, Stock: inventory.DemoCatalog})
		if err == nil && rep.OK() || time.Since(drainStart) > cfg.Drain {
			break
		}
		if !sleep(ctx, 3*time.Second) {
			return res, ctx.Err()
		}
	}
	res.Drained = time.Since(drainStart)
	created, err := createdByKey(ctx, stores.Order, unknown)
	if err != nil {
		return res, err
	}
	res.Created = len(created)
	// A create answered 503 whose commit went through anyway (its connection lost as the
	// commit reached PostgreSQL) is an order the client was told was refused.
	refusedCreated, err := createdByKey(ctx, stores.Order, l.failedKeys())
	if err != nil {
		return res, err
	}
	res.RefusedCreated = len(refusedCreated)
	if res.Audit, err = audit.Check(ctx, stores, audit.Input{Accepted: append(accepted, created...), Stock: inventory.DemoCatalog}); err != nil {
		return res, err
	}
	if err := measureStalls(ctx, stores.Order, res, start, end); err != nil {
		return res, err
	}
	if res.CancelledIn, err = cancelSteps(ctx, stores.Order); err != nil {
		return res, err
	}
	r.mu.Lock()
	res.Exits = r.exits
	r.mu.Unlock()
	return res, nil
}

// startTopology starts the broker, migrates the database, and starts the services: one order
// process on a fixed port (the API), two replicas of payment and inventory, one of the others.
func (r *run) startTopology(ctx context.Context) error {
	brokerPort, err := freePort()
	if err != nil {
		return err
	}
	apiPort, err := freePort()
	if err != nil {
		return err
	}
	brokerAddr := "127.0.0.1:" + strconv.Itoa(brokerPort)
	r.api = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	env := append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(r.cfg.Procs))
	r.broker = &proc{name: "broker", bin: r.cfg.Binary, env: env, ready: brokerReady,
		logPath: filepath.Join(r.dir, "broker.log"),
		// Metrics on a port of its own: the default one is shared by every broker on the machine.
		args: []string{"broker", "--addr", brokerAddr, "--data-dir", filepath.Join(r.dir, "kafka"), "--metrics-addr", "127.0.0.1:0"}}
	if err := r.broker.start(ctx); err != nil {
		return err
	}
	migrate := exec.CommandContext(ctx, r.cfg.Binary, "migrate", "--database-url", r.pg.dsn())
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %w: %s", err, out)
	}
	for _, s := range []struct {
		name     string
		replicas int
	}{{"order", 1}, {"payment", 2}, {"inventory", 2}, {"fulfillment", 1}, {"notification", 1}} {
		for i := 1; i <= s.replicas; i++ {
			addr := "127.0.0.1:0"
			if s.name == "order" {
				addr = "127.0.0.1:" + strconv.Itoa(apiPort)
			}
			name := s.name + "-" + strconv.Itoa(i)
			p := &proc{name: name, bin: r.cfg.Binary, env: env, ready: serveReady, logPath: filepath.Join(r.dir, name+".log"),
				args: []string{"serve", s.name, "--addr", addr, "--database-url", r.pg.dsn(), "--kafka-brokers", brokerAddr,
					"--partitions", strconv.Itoa(r.cfg.Partitions), "--migrate=false", "--demo-catalog",
					"--instance-id", name, "--step-timeout", r.cfg.StepTimeout.String(), "--log-level", "warn", "--auth", "none"}}
			if err := p.start(ctx); err != nil {
				return err
			}
			r.services = append(r.services, p)
		}
	}
	return nil
}

// warmUp places one order and waits for it to complete.
func (r *run) warmUp(ctx context.Context, l *load) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		l.one(context.WithoutCancel(ctx))
		accepted, _, _, _ := l.snapshot()
		for _, id := range accepted {
			for time.Now().Before(deadline) {
				resp, err := l.client.Get(r.api + "/api/v1/orders/" + id)
				if err == nil {
					var o struct{ Status string }
					_ = json.NewDecoder(resp.Body).Decode(&o)
					resp.Body.Close()
					if o.Status == "COMPLETED" || o.Status == "FAILED" || o.Status == "CANCELLED" {
						return nil
					}
				}
				if !sleep(ctx, 200*time.Millisecond) {
					return ctx.Err()
				}
			}
		}
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
	return errors.New("chaos: the first order did not end within 2 minutes")
}

// supervise starts again any process that died without being killed, noting it.
func (r *run) supervise(ctx context.Context) {
	for sleep(ctx, 500*time.Millisecond) {
		for _, p := range append([]*proc{r.broker}, r.services...) {
			if !p.life.TryLock() {
				continue // a fault has it
			}
			if !p.exitedUnexpectedly() {
				p.life.Unlock()
				continue
			}
			note := fmt.Sprintf("%s exited on its own: %s", p.name, lastLines(p.logPath, 3))
			fmt.Fprintf(r.cfg.Log, "chaos: %s\n", note)
			r.mu.Lock()
			r.exits = append(r.exits, note)
			r.mu.Unlock()
			if err := p.startRetrying(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintf(r.cfg.Log, "chaos: %s did not start again: %v\n", p.name, err)
			}
			p.life.Unlock()
		}
	}
}

// inject injects faults one at a time, at random, until end: the kinds in a shuffled deck so that
// every kind comes up, each on a random target, undone before the next.
func (r *run) inject(ctx context.Context, start, end time.Time) []Fault {
	var faults []Fault
	var deck []string
	// Let the load run fault-free for a while first: that is the baseline.
	if !sleep(ctx, min(10*time.Second, r.cfg.Duration/8)) {
		return faults
	}
	for time.Until(end) > time.Second {
		if len(deck) == 0 {
			deck = append(deck, faultKinds...)
			r.rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
		}
		kind := deck[0]
		deck = deck[1:]
		f := r.fault(ctx, kind)
		faults = append(faults, f)
		line := fmt.Sprintf("chaos: %6.1fs %-8s %-14s undone after %v", f.At.Sub(start).Seconds(), f.Kind, f.Target, f.Down.Round(10*time.Millisecond))
		if f.Err != "" {
			line += ": " + f.Err
		}
		fmt.Fprintln(r.cfg.Log, line)
		if ctx.Err() != nil {
			break
		}
		gap := r.cfg.FaultGap/2 + time.Duration(r.rng.Int64N(int64(r.cfg.FaultGap)+1))
		sleep(ctx, min(gap, time.Until(end)))
	}
	return faults
}

// between is a random duration from lo to hi.
func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)+1))
}

// fault injects one fault of kind and undoes it, even if ctx ends meanwhile.
func (r *run) fault(ctx context.Context, kind string) Fault {
	f := Fault{Kind: kind, At: time.Now()}
	var err error
	switch kind {
	case FaultKill:
		p := r.services[r.rng.IntN(len(r.services))]
		f.Target = p.name
		p.life.Lock()
		defer p.life.Unlock()
		p.kill()
		sleep(ctx, r.between(200*time.Millisecond, 2*time.Second))
		err = p.startRetrying(ctx)
	case FaultStop:
		targets := append([]*proc{r.broker}, r.services...)
		p := targets[r.rng.IntN(len(targets))]
		f.Target = p.name
		p.life.Lock()
		defer p.life.Unlock()
		if err = p.signal(syscall.SIGSTOP); err == nil {
			sleep(ctx, r.between(time.Second, 5*time.Second))
			err = p.signal(syscall.SIGCONT)
		}
	case FaultBroker:
		f.Target = r.broker.name
		r.broker.life.Lock()
		defer r.broker.life.Unlock()
		r.broker.kill()
		sleep(ctx, r.between(500*time.Millisecond, 3*time.Second))
		err = r.broker.startRetrying(ctx)
	case FaultPostgres:
		f.Target = "postgresql"
		err = r.pg.restartImmediate(ctx)
	}
	f.Down = time.Since(f.At)
	if err != nil {
		f.Err = err.Error()
	}
	return f
}

// stopAll stops every process the run started, and PostgreSQL; the watchdog then removes the
// run's directory unless keep.
func (r *run) stopAll(keep bool) {
	var wg sync.WaitGroup
	for _, p := range r.services {
		wg.Go(func() { p.shutdown(15 * time.Second) })
	}
	wg.Wait()
	if r.broker != nil {
		r.broker.shutdown(15 * time.Second)
	}
	if r.pg != nil {
		r.pg.stop(keep)
	} else if !keep {
		os.RemoveAll(r.dir)
	}
}

// createdByKey looks up the creates that got no answer by their Idempotency-Key, in the order
// service's stored answers (kept 24 hours), and returns the ids of the orders they created.
func createdByKey(ctx context.Context, db *sqlstore.DB, keys []string) ([]string, error) {
	var ids []string
	for _, key := range keys {
		rows, err := sqlstore.Collect(ctx, db, func(r sqlstore.Scanner) (s string, err error) {
			err = r.Scan(&s)
			return s, err
		}, `SELECT response FROM idempotency_keys WHERE idem_key = $1 AND status_code = 201`, key)
		if err != nil {
			return nil, fmt.Errorf("look up Idempotency-Key %s: %w", key, err)
		}
		for _, body := range rows {
			var created struct {
				OrderID string `json:"orderId"`
			}
			if err := json.Unmarshal([]byte(body), &created); err == nil && created.OrderID != "" {
				ids = append(ids, created.OrderID)
			}
		}
	}
	return ids, nil
}
