// Package pgtest runs a real PostgreSQL server for tests: initdb into a
// fresh temporary directory, the server on a free loopback port with its
// unix socket in that directory, stopped and removed when the test ends.
// As root the server runs as the postgres user (PostgreSQL refuses root).
// When the server binaries are missing the test is skipped with a message
// saying so (scripts/test installs Debian's postgresql).
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir returns the directory holding initdb and postgres, or "" when
// none is found: pg_config's, then Debian's /usr/lib/postgresql/*/bin
// (newest first), then PATH.
func BinDir() string {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); ok(d) {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // the pattern is valid
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && ok(filepath.Dir(p)) {
		return filepath.Dir(p)
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir))) // not a number sorts last
	return n
}

// Options adjust the server.
type Options struct {
	// Settings are extra postgres -c settings (name → value).
	Settings map[string]string
}

// A Server is a running PostgreSQL owned by one test.
type Server struct {
	// Port is the TCP port on 127.0.0.1; Dir holds the data directory,
	// the socket and the log.
	Port int
	Dir  string

	tb   testing.TB
	bin  string
	data string
	log  string
	args []string
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	dbs  atomic.Int64
}

// Start initialises a cluster in a new temporary directory and starts
// the server; it is stopped and the directory removed when the test ends.
func Start(tb testing.TB, opts *Options) *Server {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	bin := BinDir()
	if bin == "" {
		tb.Skip("pgtest: PostgreSQL server binaries (initdb, postgres) not found (apt-get install postgresql; scripts/test does it)")
	}
	// Not t.TempDir: its parents are 0700 root, which the postgres user
	// could not enter.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) }) // a temporary folder; nothing to do if it stays
	s := &Server{Dir: dir, tb: tb, bin: bin, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("pgtest: running as root and no postgres user to run the server as (apt-get install postgresql creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid) // user.Lookup gives numbers on Unix
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	s.Port = freePort(tb)
	s.args = []string{"-D", s.data, "-p", strconv.Itoa(s.Port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "logging_collector=off"}
	for k, v := range opts.Settings {
		s.args = append(s.args, "-c", k+"="+v)
	}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

func (s *Server) start() {
	s.tb.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatalf("pgtest: %v", err)
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.tb.Fatalf("pgtest: start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.dsn("postgres"))
		if err == nil {
			c.Close(ctx)
			return
		}
		select {
		case <-done:
			s.tb.Fatalf("pgtest: postgres exited at start:\n%s", s.Log())
		case <-ctx.Done():
			s.tb.Fatalf("pgtest: postgres not ready within 30 s: %v\n%s", err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast shutdown: sessions are cut) and waits.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGINT) // it may have exited already; done tells
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the server's process group
		<-done
	}
}

// Restart stops the server and starts it again on the same port and data.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// DSN returns a connection string for the database "postgres".
func (s *Server) DSN() string { return s.dsn("postgres") }

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database and returns its connection string.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	return s.dsn(name)
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log) // no log yet reads as empty
	return string(b)
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
