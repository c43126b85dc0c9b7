package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgres is a throwaway PostgreSQL cluster, run with production durability (fsync and
// synchronous_commit on) so that an immediate restart loses nothing that was committed.
type postgres struct {
	bin      string
	root     string // its directory: data, log and socket
	data     string
	log      string
	port     int
	cred     *syscall.Credential // whom to run it as (initdb refuses root); nil: ourselves
	watchdog *exec.Cmd
	watchW   *os.File
}

// findPGBin is dir if set, else $ORDERSYS_PG_BIN, else the newest /usr/lib/postgresql/*/bin,
// else `pg_config --bindir`: the directory that holds initdb and pg_ctl.
func findPGBin(dir string) (string, error) {
	candidates := []string{dir}
	if dir == "" {
		candidates = []string{os.Getenv("ORDERSYS_PG_BIN")}
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(found, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
		candidates = append(candidates, found...)
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "pg_ctl")); err == nil {
			if _, err := os.Stat(filepath.Join(c, "initdb")); err == nil {
				return c, nil
			}
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl): set --pg-bin or ORDERSYS_PG_BIN")
}

// pgVersion is the major version in /usr/lib/postgresql/<version>/bin.
func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// startPostgres creates a cluster in root/pg and starts it on a free port of 127.0.0.1.
func startPostgres(ctx context.Context, bin, root string) (*postgres, error) {
	pg := &postgres{bin: bin, root: filepath.Join(root, "pg")}
	pg.data, pg.log = filepath.Join(pg.root, "data"), filepath.Join(pg.root, "postgres.log")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and initdb refuses root; no postgres user to run it as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := os.Mkdir(pg.root, 0o700); err != nil {
		return nil, err
	}
	if pg.cred != nil {
		// The postgres user must reach its directory through root's.
		if err := os.Chmod(root, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(pg.root, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := pg.startWatchdog(root); err != nil {
		return nil, err
	}
	if _, err := pg.run(ctx, "initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		pg.stop(false)
		return nil, err
	}
	var err error
	for range 5 { // another process may take the port between our choosing it and the start
		if pg.port, err = freePort(); err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c synchronous_commit=on",
			pg.port, pg.root)
		if _, err = pg.run(ctx, "pg_ctl", "-D", pg.data, "-l", pg.log, "-w", "-t", "60", "-o", opts, "start"); err == nil {
			return pg, nil
		}
	}
	pg.stop(false)
	return nil, fmt.Errorf("start PostgreSQL: %w", err)
}

// dsn is the URL of the cluster's postgres database.
func (pg *postgres) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// restartImmediate is `pg_ctl restart -m immediate`: every backend ends at once without a
// checkpoint, as in a crash, and the server recovers from its write-ahead log on start.
func (pg *postgres) restartImmediate(ctx context.Context) error {
	_, err := pg.run(ctx, "pg_ctl", "-D", pg.data, "-l", pg.log, "-m", "immediate", "-w", "-t", "60", "restart")
	return err
}

// stop stops the cluster and ends the watchdog, which then removes the run's directory unless
// keep.
func (pg *postgres) stop(keep bool) {
	if _, err := os.Stat(filepath.Join(pg.data, "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		if _, err := pg.run(ctx, "pg_ctl", "-D", pg.data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
			_, _ = pg.run(ctx, "pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "-t", "30", "stop")
		}
		cancel()
	}
	if pg.watchdog != nil {
		if keep {
			_, _ = pg.watchW.WriteString("keep")
		}
		pg.watchW.Close()
		_ = pg.watchdog.Wait()
		pg.watchdog = nil
	}
}

// startWatchdog starts a process that waits for end-of-file on a pipe only this process writes
// to, which comes when the run stops it or dies in any way (SIGKILL, a test's timeout), and then
// stops the cluster and removes the run's directory, unless it was told "keep". It has a session
// of its own, so that a Ctrl-C does not end it before it has done its work.
func (pg *postgres) startWatchdog(root string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	const script = `verdict=$(cat)
pid=$(head -n1 "$1/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null && sleep 2
[ "$verdict" = keep ] || rm -rf "$2"
exit 0`
	cmd := exec.Command("/bin/sh", "-c", script, "ordersys-chaos-watchdog", pg.data, root)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	pg.watchdog, pg.watchW = cmd, w
	return nil
}

// run runs one of the PostgreSQL programs as the cluster's owner.
func (pg *postgres) run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.root
	var env []string
	for _, kv := range os.Environ() { // no PGDATA, PGPORT... redirecting the programs
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second // with -l the server does not write to our pipe; never wait on it forever
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: pg.cred}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s\n%s", name, strings.Join(args, " "), err,
			strings.TrimSpace(out.String()), lastLines(pg.log, 10))
	}
	return out.String(), nil
}

// freePort picks a free port of 127.0.0.1 below the kernel's ephemeral range, where only an
// explicit bind can take it: a process restarted on the same port (PostgreSQL, the broker, the
// order API) would otherwise risk finding it taken by some client's outgoing connection.
func freePort() (int, error) {
	low, first := 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	if first > low+1000 {
		for range 100 {
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
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
