// Package pgtest gives tests a throwaway PostgreSQL.
//
// The first call to DSN in a test binary creates a cluster in a temporary directory (initdb) and
// starts it on a free port of 127.0.0.1; every DSN call then creates a brand-new, empty database
// on it. Main stops the cluster and removes its directory when the tests are done:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Environment:
//
//   - ORDERSYS_TEST_DATABASE_URL: use this server (a postgres:// URL of a role that may CREATE
//     DATABASE) instead of starting one. Databases are still created fresh on it, and dropped
//     after tests that pass.
//   - ORDERSYS_PG_BIN: directory holding initdb, pg_ctl and postgres. Otherwise the highest
//     /usr/lib/postgresql/*/bin is used, else `pg_config --bindir`.
//   - CI=true or ORDERSYS_REQUIRE_POSTGRES=1: a PostgreSQL that cannot be had fails the test
//     instead of skipping it.
//
// initdb refuses to run as root, so when the tests run as root the cluster is created and run as
// the "postgres" OS user.
//
// The cluster runs with production durability (fsync=on, synchronous_commit=on); only initdb's
// final flush of the freshly created files is skipped (--no-sync), which saves about a second and
// does not change how the running server behaves.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	envURL     = "ORDERSYS_TEST_DATABASE_URL"
	envBin     = "ORDERSYS_PG_BIN"
	envRequire = "ORDERSYS_REQUIRE_POSTGRES"
	envCI      = "CI"

	startAttempts = 5 // each with a fresh port, in case another process took the one we picked
)

// Shared state of the test binary. mu also serialises starting and stopping the cluster.
var (
	mu          sync.Mutex
	initialized bool     // the first DSN/Start/Stop/Restart has decided where the server comes from
	initErr     error    // why no server could be had; sticky for the life of the binary
	local       *cluster // the cluster pgtest started, or nil
	externalURL string   // ORDERSYS_TEST_DATABASE_URL, when set
	dbSeq       int      // numbers the databases DSN creates
)

// runID makes database names unique across test binaries sharing one external server.
var runID = fmt.Sprintf("%06x", rand.Uint32()&0xffffff)

// Main wraps testing.M: it runs the tests and then stops the cluster if one was started. Use from
// TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The cluster is stopped and its directory removed even if m.Run panics. A panic in a test
// goroutine (or a -timeout) ends the process without running deferred code; for that case a
// small watchdog process, started with the cluster, stops it and removes the directory as soon as
// the test binary is gone.
func Main(m *testing.M) int {
	defer shutdown()
	return m.Run()
}

// DSN returns a postgres:// URL of a brand-new, empty database (CREATE DATABASE with a unique name)
// on the shared cluster, started on first use (once per test binary). If ORDERSYS_TEST_DATABASE_URL
// is set, that server is used instead of starting one (databases are still created fresh on it).
//
// When no PostgreSQL can be started the test is skipped with the reason — except when the
// environment has CI=true (or ORDERSYS_REQUIRE_POSTGRES=1), where it fails: in CI a missing
// PostgreSQL is a failure, never a skip.
func DSN(t testing.TB) string {
	t.Helper()
	mu.Lock()
	first := !initialized
	err := ensureLocked()
	c, ext := local, externalURL
	var admin, name string
	stopped := false
	if err == nil {
		if c != nil {
			admin = c.adminURL()
			stopped = !c.running
		} else {
			admin = ext
		}
		dbSeq++
		name = dbName(t.Name(), dbSeq)
	}
	mu.Unlock()

	switch {
	case err != nil && ext != "":
		// The server was named explicitly; not reaching it is a broken setup, not a missing one.
		t.Fatalf("pgtest: %s: %v", envURL, err)
	case err != nil:
		unavailable(t, err)
	case stopped:
		t.Fatalf("pgtest: the shared cluster is stopped (pgtest.Stop was called without pgtest.Start)")
	}
	if first && c != nil {
		t.Logf("pgtest: started PostgreSQL %s on 127.0.0.1:%d in %v (initdb %v, pg_ctl start %v); data in %s",
			c.version, c.port, (c.initdbTime + c.startTime).Round(time.Millisecond),
			c.initdbTime.Round(time.Millisecond), c.startTime.Round(time.Millisecond), c.root)
	}
	return createDatabase(t, admin, name, c == nil)
}

// Stop stops the shared cluster (pg_ctl -m fast stop), starting it first if it never ran. Until
// Start or Restart is called, connections to any database from DSN fail. Tests that call Stop must
// not run in parallel with tests that use the cluster.
func Stop(t testing.TB) {
	t.Helper()
	c := managed(t)
	mu.Lock()
	var err error
	if c.running {
		err = c.stop("fast")
	}
	mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: stop: %v", err)
	}
}

// Start starts the shared cluster again after Stop, on the same port and with the same data. It
// does nothing if the cluster is running.
func Start(t testing.TB) {
	t.Helper()
	c := managed(t)
	mu.Lock()
	var err error
	if !c.running {
		err = c.start()
	}
	mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: start: %v", err)
	}
}

// Restart stops and starts the shared cluster (same port, same data), for tests of database
// outages.
func Restart(t testing.TB) {
	t.Helper()
	Stop(t)
	Start(t)
}

// managed returns the cluster pgtest runs, starting it if needed. Without one (no PostgreSQL, or
// ORDERSYS_TEST_DATABASE_URL names a server pgtest cannot stop) the test is skipped, or failed in CI.
func managed(t testing.TB) *cluster {
	t.Helper()
	mu.Lock()
	err := ensureLocked()
	c, ext := local, externalURL
	mu.Unlock()
	switch {
	case err != nil && ext != "":
		t.Fatalf("pgtest: %s: %v", envURL, err)
	case err != nil:
		unavailable(t, err)
	case c == nil:
		unavailable(t, fmt.Errorf("%s is set, and pgtest cannot stop or start a server it did not start", envURL))
	}
	return c
}

// unavailable skips the test because no PostgreSQL could be had, or fails it when PostgreSQL is
// required (CI).
func unavailable(t testing.TB, err error) {
	t.Helper()
	if required() {
		t.Fatalf("pgtest: PostgreSQL is required here (%s=true or %s=1), but: %v", envCI, envRequire, err)
		return
	}
	t.Skipf("pgtest: skipping, no PostgreSQL: %v (install the server binaries, set %s, or set %s)", err, envBin, envURL)
}

func required() bool {
	return envTrue(envCI) || envTrue(envRequire)
}

func envTrue(name string) bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(name)))
	return err == nil && v
}

// ensureLocked decides, once, where databases come from: the external server or a cluster of our
// own, which it starts. mu must be held.
func ensureLocked() error {
	if initialized {
		return initErr
	}
	initialized = true
	if raw := os.Getenv(envURL); raw != "" {
		externalURL = raw
		initErr = checkURL(raw)
		return initErr
	}
	local, initErr = newCluster()
	return initErr
}

// shutdown stops and removes the cluster, if one was started. Later DSN calls fail.
func shutdown() {
	mu.Lock()
	defer mu.Unlock()
	if !initialized {
		initialized = true
		initErr = errors.New("pgtest.Main has already shut the cluster down")
		return
	}
	if local != nil {
		local.destroy()
		local = nil
		initErr = errors.New("pgtest.Main has already shut the cluster down")
	}
}

// createDatabase creates database name on the server at admin and returns its URL. If drop is set
// the database is dropped when the test ends, unless the test failed (then it is kept to look at).
func createDatabase(t testing.TB, admin, name string, drop bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", redact(admin), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if drop {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("pgtest: test failed; keeping database %s", name)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, admin)
			if err == nil {
				defer conn.Close(context.Background())
				_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			}
			if err != nil {
				t.Logf("pgtest: drop database %s: %v", name, err)
			}
		})
	}
	return dsn
}

// dbName is a database name that is unique within this test binary (seq) and, with high
// probability, across binaries (runID), and shows which test it belongs to.
func dbName(testName string, seq int) string {
	const maxLen = 63 // NAMEDATALEN-1
	prefix := fmt.Sprintf("pgtest_%s_%d_", runID, seq)
	var b strings.Builder
	lastUnderscore := true
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			lastUnderscore = false
		} else if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	suffix := strings.Trim(b.String(), "_")
	if room := maxLen - len(prefix); len(suffix) > room {
		suffix = strings.TrimRight(suffix[:room], "_")
	}
	return strings.TrimRight(prefix+suffix, "_")
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("want a postgres:// URL, got scheme %q", u.Scheme)
	}
	return nil
}

// withDatabase returns the URL raw with its database replaced by name.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse %s: %v", redact(raw), err)
	}
	u.Scheme = "postgres"
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// cluster is a PostgreSQL cluster in a temporary directory.
type cluster struct {
	binDir  string
	cred    *syscall.Credential // whom to run the binaries as; nil: the current user
	root    string              // temporary directory; also the unix socket directory
	data    string              // root/data
	logPath string              // root/postgres.log
	conf    []byte              // postgresql.conf as initdb wrote it
	port    int
	running bool
	version string // server_version

	watchdog  *exec.Cmd
	watchdogW *os.File // closing it (or our exit) tells the watchdog to clean up

	initdbTime, startTime time.Duration
}

// newCluster creates and starts a cluster.
func newCluster() (c *cluster, err error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	root, err := makeRoot(cred)
	if err != nil {
		return nil, err
	}
	c = &cluster{
		binDir:  binDir,
		cred:    cred,
		root:    root,
		data:    filepath.Join(root, "data"),
		logPath: filepath.Join(root, "postgres.log"),
	}
	defer func() {
		if err != nil {
			c.destroy()
		}
	}()
	if err := c.startWatchdog(); err != nil {
		return nil, err
	}

	t0 := time.Now()
	if _, err := c.run(2*time.Minute, "initdb", "-D", c.data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	c.initdbTime = time.Since(t0)
	if c.conf, err = os.ReadFile(filepath.Join(c.data, "postgresql.conf")); err != nil {
		return nil, err
	}

	t0 = time.Now()
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.writeConf(); err != nil {
			return nil, err
		}
		if err = c.start(); err == nil {
			break
		}
		if attempt == startAttempts {
			return nil, err
		}
		c.stopQuietly() // in case pg_ctl gave up waiting on a postmaster that did come up
	}
	c.startTime = time.Since(t0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL())
	if err != nil {
		return nil, fmt.Errorf("connect to the new cluster: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&c.version); err != nil {
		return nil, fmt.Errorf("query the new cluster: %w", err)
	}
	return c, nil
}

func (c *cluster) adminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// writeConf appends pgtest's settings to postgresql.conf as initdb wrote it (later lines win).
func (c *cluster) writeConf() error {
	settings := fmt.Sprintf(`
# pgtest
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = on
synchronous_commit = on
max_connections = 300
shared_buffers = 128MB
`, c.port, strings.ReplaceAll(c.root, "'", "''"))
	// The file exists and belongs to the cluster's owner; rewriting it keeps owner and mode.
	return os.WriteFile(filepath.Join(c.data, "postgresql.conf"), append(append([]byte{}, c.conf...), settings...), 0o600)
}

// start starts the postmaster on c.port. If the port is taken (by some other process, between our
// picking it and now, or between Stop and Start) it tries again for a few seconds.
func (c *cluster) start() error {
	var err error
	for attempt := 1; ; attempt++ {
		var logSize int64
		if fi, statErr := os.Stat(c.logPath); statErr == nil {
			logSize = fi.Size()
		}
		_, err = c.run(90*time.Second, "pg_ctl", "-D", c.data, "-w", "-t", "60", "-l", c.logPath, "start")
		if err == nil {
			c.running = true
			return nil
		}
		if attempt == 5 || !strings.Contains(c.logSince(logSize), "Address already in use") {
			break
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("start PostgreSQL on 127.0.0.1:%d: %w\n--- tail of %s ---\n%s", c.port, err, c.logPath, c.logTail(30))
}

func (c *cluster) stop(mode string) error {
	if _, err := c.run(90*time.Second, "pg_ctl", "-D", c.data, "-m", mode, "stop", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, c.logPath, c.logTail(30))
	}
	c.running = false
	return nil
}

// stopQuietly stops a postmaster that may or may not be running, as fast as possible.
func (c *cluster) stopQuietly() {
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err != nil {
		return
	}
	if c.stop("immediate") != nil {
		c.killPostmaster()
	}
	c.running = false
}

// killPostmaster is the last resort: SIGKILL to the postmaster; its children notice its death and
// exit by themselves.
func (c *cluster) killPostmaster() {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		time.Sleep(200 * time.Millisecond)
	}
}

// destroy stops the cluster however it can, removes its directory and ends the watchdog.
func (c *cluster) destroy() {
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
		if err := c.stop("fast"); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
			c.stopQuietly()
		}
	}
	if err := os.RemoveAll(c.root); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: remove %s: %v\n", c.root, err)
	}
	if c.watchdog != nil {
		c.watchdogW.Close()
		done := make(chan struct{})
		go func() { _ = c.watchdog.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		c.watchdog = nil
	}
}

// startWatchdog starts a process that waits for end-of-file on a pipe only this process writes to,
// which comes when this process closes it or exits in whatever way, and then stops the cluster and
// removes its directory. It runs in a session of its own so that ^C to the test does not end it
// before it has done its work.
func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	const script = `cat >/dev/null; "$1" -D "$2" -m immediate stop -w -t 30 >/dev/null 2>&1; rm -rf "$3"`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtest-watchdog", filepath.Join(c.binDir, "pg_ctl"), c.data, c.root)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.Env = c.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: c.cred}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	c.watchdog, c.watchdogW = cmd, w
	return nil
}

// run runs one of the PostgreSQL binaries as the cluster's owner and returns its output.
func (c *cluster) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.root
	cmd.Env = c.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// With -l the postmaster writes to the log, not to our pipe; should anything keep the pipe
	// open anyway, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// env is the environment for the PostgreSQL binaries: ours without the PG* variables (PGDATA,
// PGPORT, PGHOST... must not redirect them) and in the C locale, for plain log messages.
func (c *cluster) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// logTail returns the last n lines of the server log.
func (c *cluster) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logSince returns what the server logged after the log was offset bytes long.
func (c *cluster) logSince(offset int64) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// freePort picks a free TCP port on 127.0.0.1. It prefers ports below the kernel's ephemeral
// range: ports in that range (which is where "listen on :0" draws from) are also handed out as
// local ports of outgoing connections, so any client on the machine could take ours while the
// cluster is stopped, and Start must use the same port again. Below the range only an explicit
// bind can take it.
func freePort() (int, error) {
	const low = 10000
	if first := ephemeralLow(); first > low+1000 {
		for range 50 {
			port := low + rand.IntN(first-low)
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				return port, l.Close()
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// ephemeralLow is the first port of the kernel's range for outgoing connections.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768 // Linux's default; elsewhere, IANA's is 49152
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return n
}

// findBinDir locates initdb, pg_ctl and postgres: $ORDERSYS_PG_BIN, else the highest
// /usr/lib/postgresql/*/bin, else `pg_config --bindir`.
func findBinDir() (string, error) {
	if dir := os.Getenv(envBin); dir != "" {
		if err := hasServerBinaries(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", envBin, dir, err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sortByVersionDesc(dirs)
	for _, dir := range dirs {
		if hasServerBinaries(dir) == nil {
			return dir, nil
		}
	}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			dir := strings.TrimSpace(string(out))
			if hasServerBinaries(dir) == nil {
				return dir, nil
			}
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in $" + envBin +
		", /usr/lib/postgresql/*/bin or `pg_config --bindir`")
}

func hasServerBinaries(dir string) error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, name))
		}
	}
	return nil
}

// sortByVersionDesc sorts /usr/lib/postgresql/<version>/bin paths, highest version first
// (numerically: 16 before 9.6).
func sortByVersionDesc(dirs []string) {
	version := func(dir string) []int {
		var v []int
		for _, part := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				n = -1
			}
			v = append(v, n)
		}
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		a, b := version(dirs[i]), version(dirs[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
}

// credential is whom to run the PostgreSQL binaries as: nil (ourselves) unless we are root, whom
// initdb refuses; then the "postgres" user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses root; no \"postgres\" user to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// makeRoot creates the cluster's temporary directory, mode 0700 and owned by whoever runs the
// cluster. t.TempDir() would not do: its parent is made by root and postgres may not be able to
// reach into it. If postgres cannot reach a directory under os.TempDir() either (TMPDIR inside
// /root, say), /tmp is tried.
func makeRoot(cred *syscall.Credential) (string, error) {
	bases := []string{os.TempDir()}
	if bases[0] != "/tmp" {
		bases = append(bases, "/tmp")
	}
	var errs []error
	for _, base := range bases {
		dir, err := os.MkdirTemp(base, "ordersys-pgtest-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := prepareRoot(dir, cred); err != nil {
			os.RemoveAll(dir)
			errs = append(errs, err)
			continue
		}
		return dir, nil
	}
	return "", fmt.Errorf("no usable temporary directory for the cluster: %w", errors.Join(errs...))
}

func prepareRoot(dir string, cred *syscall.Credential) error {
	// The unix socket lives here too, and its path must fit in sockaddr_un (107 bytes).
	if len(dir)+len("/.s.PGSQL.65535") > 107 {
		return fmt.Errorf("%s: path too long for a unix socket", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return err
	}
	// Can the postgres user reach it, through all the parents?
	probe := exec.Command("/bin/sh", "-c", `cd "$1" && test -w .`, "probe", dir)
	probe.Dir = "/"
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := probe.CombinedOutput(); err != nil {
		return fmt.Errorf("%s is not reachable and writable for uid %d: %v %s", dir, cred.Uid, err, strings.TrimSpace(string(out)))
	}
	return nil
}
