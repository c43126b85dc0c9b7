package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dbNameOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// ourCluster is the cluster pgtest started, or nil when an external server is used.
func ourCluster() *cluster {
	mu.Lock()
	defer mu.Unlock()
	return local
}

func TestDSNGivesAWorkingDatabase(t *testing.T) {
	t.Parallel()
	dsn := DSN(t)
	if !strings.HasPrefix(dsn, "postgres://") {
		t.Fatalf("DSN = %q, want a postgres:// URL", dsn)
	}
	db := openDB(t, dsn)
	ctx := context.Background()

	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("version(): %s", version)
	if !strings.Contains(version, "PostgreSQL") {
		t.Fatalf("version() = %q, want PostgreSQL", version)
	}
	if c := ourCluster(); c != nil && strings.HasPrefix(c.binDir, "/usr/lib/postgresql/15/") &&
		!strings.Contains(version, "PostgreSQL 15") {
		t.Fatalf("version() = %q, want PostgreSQL 15 (binaries from %s)", version, c.binDir)
	}

	var current string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if want := dbNameOf(t, dsn); current != want {
		t.Fatalf("current_database() = %q, want %q from the DSN", current, want)
	}

	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("new database has %d tables in public, want none", tables)
	}

	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, item text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO orders VALUES (1, 'apple'), (2, 'pear')`); err != nil {
		t.Fatal(err)
	}
	var n int
	var last string
	if err := db.QueryRowContext(ctx, `SELECT count(*), max(item) FROM orders`).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	if n != 2 || last != "pear" {
		t.Fatalf("got %d rows, max %q; want 2, pear", n, last)
	}
}

func TestClusterSettings(t *testing.T) {
	t.Parallel()
	dsn := DSN(t)
	if ourCluster() == nil {
		t.Skip("settings are pgtest's only on a cluster it started")
	}
	db := openDB(t, dsn)
	want := map[string]string{
		"fsync":              "on",
		"synchronous_commit": "on",
		"max_connections":    "300",
		"shared_buffers":     "128MB",
		"listen_addresses":   "127.0.0.1",
		"server_encoding":    "UTF8",
		"lc_collate":         "C",
	}
	for name, value := range want {
		var got string
		if err := db.QueryRow("SHOW " + name).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		if got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

func TestDSNGivesIsolatedDatabases(t *testing.T) {
	t.Parallel()
	dsnA, dsnB := DSN(t), DSN(t)
	if dsnA == dsnB || dbNameOf(t, dsnA) == dbNameOf(t, dsnB) {
		t.Fatalf("two DSN calls gave the same database: %s, %s", dsnA, dsnB)
	}
	a, b := openDB(t, dsnA), openDB(t, dsnB)
	if _, err := a.Exec(`CREATE TABLE items (name text); INSERT INTO items VALUES ('only in a')`); err != nil {
		t.Fatal(err)
	}
	var reg sql.NullString
	if err := b.QueryRow(`SELECT to_regclass('public.items')::text`).Scan(&reg); err != nil {
		t.Fatal(err)
	}
	if reg.Valid {
		t.Fatalf("table created in database A is visible in database B as %s", reg.String)
	}
	// The same name is free in B, and B's table starts empty.
	if _, err := b.Exec(`CREATE TABLE items (name text)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(`SELECT count(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("B's items has %d rows, want 0", n)
	}
	if err := a.QueryRow(`SELECT count(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("A's items has %d rows, want 1", n)
	}
}

// Many tests asking for databases at once each get their own.
func TestDSNConcurrent(t *testing.T) {
	t.Parallel()
	var seen sync.Map
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			dsn := DSN(t)
			if prev, dup := seen.LoadOrStore(dbNameOf(t, dsn), i); dup {
				t.Fatalf("database %s handed out twice (also to %v)", dsn, prev)
			}
			var one int
			if err := openDB(t, dsn).QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
		})
	}
}

// Not parallel: it takes the shared cluster down. (Go runs parallel tests only after the
// sequential ones are done.)
func TestStopStartKeepsData(t *testing.T) {
	dsn := DSN(t)
	if ourCluster() == nil {
		t.Skip("needs a cluster pgtest started")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives restarts')`); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	Stop(t)
	t.Logf("Stop took %v", time.Since(t0).Round(time.Millisecond))
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection opened before Stop still works after it")
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c, err := pgx.Connect(cctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connecting works while the cluster is stopped")
	} else {
		t.Logf("connect while stopped: %v", err)
	}
	Stop(t) // stopping a stopped cluster is a no-op

	t0 = time.Now()
	Start(t)
	t.Logf("Start took %v", time.Since(t0).Round(time.Millisecond))
	Start(t) // starting a running cluster is a no-op
	checkKept(t, dsn)

	t0 = time.Now()
	Restart(t)
	t.Logf("Restart took %v", time.Since(t0).Round(time.Millisecond))
	checkKept(t, dsn)

	// New databases still work, on the same port.
	if got, want := DSN(t), dsn; !strings.HasPrefix(got, strings.Split(want, "/pgtest_")[0]) {
		t.Fatalf("after restart DSN = %s, want the same server as %s", got, want)
	}
}

func checkKept(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect after start: %v", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != "survives restarts" {
		t.Fatalf("after start: kept = %q, %v", v, err)
	}
}

// The path DSN takes with ORDERSYS_TEST_DATABASE_URL: a fresh database on a given server, dropped
// once the test has passed. Exercised here against our own cluster.
func TestExternalServerDatabasesAreDropped(t *testing.T) {
	t.Parallel()
	DSN(t) // make sure the cluster runs
	c := ourCluster()
	if c == nil {
		t.Skip("needs a cluster pgtest started")
	}
	mu.Lock()
	admin := c.adminURL()
	mu.Unlock()
	var name string
	t.Run("user", func(t *testing.T) {
		dsn := createDatabase(t, admin, dbName(t.Name(), 999999), true)
		name = dbNameOf(t, dsn)
		var one int
		if err := openDB(t, dsn).QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT exists(SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test passed", name)
	}
}

// fakeTB records Skipf/Fatalf instead of ending the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                          {}
func (f *fakeTB) Skipf(format string, args ...any) { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestUnavailableSkipsLocallyFailsInCI(t *testing.T) {
	for _, tc := range []struct {
		ci, require string
		wantFail    bool
	}{
		{"", "", false},
		{"false", "0", false},
		{"true", "", true},
		{"", "1", true},
		{"1", "", true},
	} {
		t.Setenv(envCI, tc.ci)
		t.Setenv(envRequire, tc.require)
		f := &fakeTB{TB: t}
		unavailable(f, fmt.Errorf("no binaries"))
		if failed := f.failed != ""; failed != tc.wantFail || (f.skipped != "") == tc.wantFail {
			t.Errorf("CI=%q %s=%q: skipped %q, failed %q; want fail=%v", tc.ci, envRequire, tc.require, f.skipped, f.failed, tc.wantFail)
		}
		if msg := f.skipped + f.failed; !strings.Contains(msg, "no binaries") {
			t.Errorf("message %q does not give the reason", msg)
		}
	}
}

func TestFindBinDirHonoursEnv(t *testing.T) {
	t.Setenv(envBin, t.TempDir())
	if dir, err := findBinDir(); err == nil {
		t.Fatalf("findBinDir with an empty %s = %s, want an error", envBin, dir)
	}
}

func TestSortByVersionDesc(t *testing.T) {
	dirs := []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/x/bin", "/usr/lib/postgresql/10/bin"}
	sortByVersionDesc(dirs)
	want := []string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/x/bin"}
	if fmt.Sprint(dirs) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", dirs, want)
	}
}

func TestDBName(t *testing.T) {
	long := dbName("TestSomething/with spaces & Sub-Tests/"+strings.Repeat("x", 100), 12)
	if len(long) > 63 {
		t.Fatalf("%q is %d bytes, over PostgreSQL's 63", long, len(long))
	}
	for _, r := range long {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Fatalf("%q has %q", long, r)
		}
	}
	if !strings.HasPrefix(long, "pgtest_"+runID+"_12_testsomething_with_spaces_sub_tests_x") {
		t.Fatalf("dbName = %q", long)
	}
	if dbName("T", 1) == dbName("T", 2) {
		t.Fatal("dbName does not use the sequence number")
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgresql://u:p%40ss@db.example:6543/admin?sslmode=require&connect_timeout=5", "pgtest_x_1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://u:p%40ss@db.example:6543/pgtest_x_1?sslmode=require&connect_timeout=5"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if err := checkURL("host=localhost dbname=x"); err == nil {
		t.Fatal("checkURL accepted a keyword/value string")
	}
}
