// Package storetest starts real databases for tests: a throwaway PostgreSQL server from
// Debian's postgresql package, shared by the store's contract suite and the packages that
// test against the store.
package storetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server started for one test, listening on a unix socket only.
type Postgres struct {
	// DSN reaches the server's "postgres" database.
	DSN string

	bin, data string
	asUser    func(name string, args ...string) *exec.Cmd
	stopOnce  sync.Once
	databases atomic.Int64
}

// StartPostgres starts a throwaway PostgreSQL server and stops it when the test ends.
// Without the binaries the test skips, unless BERTH_E2E=1 requires it to run.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		msg := "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (install Debian's postgresql package)"
		if os.Getenv("BERTH_E2E") == "1" {
			t.Fatal(msg + "; BERTH_E2E=1 requires the PostgreSQL tests to run")
		}
		t.Skip(msg)
	}
	// initdb refuses to run as root, so as root the server runs as the postgres user, in a
	// directory that user owns (t.TempDir's parent is private to root).
	dir, err := os.MkdirTemp("", "berth-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Postgres{bin: bin, data: filepath.Join(dir, "data")}
	p.asUser = func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	run := func(cmd *exec.Cmd) {
		t.Helper()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	}
	run(p.asUser(filepath.Join(bin, "initdb"), "-D", p.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"))
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c fsync=off -c max_connections=50", dir)
	run(p.asUser(filepath.Join(bin, "pg_ctl"), "-D", p.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"))
	t.Cleanup(func() { p.Stop(t) })
	p.DSN = "postgres:///postgres?host=" + dir + "&user=postgres&sslmode=disable"
	return p
}

// NewDatabase creates an empty database on the server and returns its DSN.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "berth_" + strconv.FormatInt(p.databases.Add(1), 10)
	p.Exec(t, p.DSN, "CREATE DATABASE "+name)
	return strings.Replace(p.DSN, "/postgres?", "/"+name+"?", 1)
}

// Exec runs one statement on dsn's database.
func (p *Postgres) Exec(t testing.TB, dsn, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// Stop shuts the server down at once, as a crash or an outage would; later calls do nothing.
func (p *Postgres) Stop(t testing.TB) {
	p.stopOnce.Do(func() {
		cmd := p.asUser(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", "immediate", "-w", "stop")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})
}

// postgresBin returns the newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl.
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

// Available reports whether PostgreSQL's server binaries are installed here.
func Available() bool { return postgresBin() != "" }

// SQLite returns a DSN for a fresh SQLite database in a temp dir.
func SQLite(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "berth.db")
}
