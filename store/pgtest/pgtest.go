// Package pgtest starts a throwaway PostgreSQL server on loopback for tests,
// from the binaries of Debian's postgresql package, and hands out fresh
// databases on it. Set VISE_TEST_POSTGRES to a superuser URL to use an
// existing server instead; set VISE_REQUIRE_POSTGRES=1 (as `make test` does)
// to fail rather than skip when PostgreSQL is not installed.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

var (
	once     sync.Once
	baseURL  string // superuser URL of the server, database "postgres"
	startErr error
	server   *exec.Cmd
	dataDir  string
	relaunch func() error // starts the server again after Down
	dbCount  atomic.Int64
)

// Main runs the tests and then stops the server if one was started. Call it
// from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with more to clean up: it returns the code.
func Run(m *testing.M) int {
	code := m.Run()
	cleanup()
	return code
}

// NewDatabase returns the URL of a new, empty database.
func NewDatabase(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURL, startErr = start() })
	if startErr != nil {
		if os.Getenv("VISE_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (VISE_REQUIRE_POSTGRES is set) but could not start: %v", startErr)
		}
		t.Skipf("skipping PostgreSQL test: %v (install Debian's postgresql package, or set VISE_TEST_POSTGRES)", startErr)
	}
	name := fmt.Sprintf("vise_test_%d_%d", os.Getpid(), dbCount.Add(1))
	db, err := sql.Open("pgx", baseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, _ := url.Parse(baseURL)
	u.Path = "/" + name
	return u.String()
}

func start() (string, error) {
	if u := os.Getenv("VISE_TEST_POSTGRES"); u != "" {
		return u, waitReady(u, 10*time.Second)
	}
	bin, err := findBin()
	if err != nil {
		return "", err
	}
	dataDir, err = os.MkdirTemp("", "vise-pg-")
	if err != nil {
		return "", err
	}
	cred, err := credential()
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dataDir, "data"), "-U", "vise", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dataDir, "postgres.log"))
	if err != nil {
		return "", err
	}
	relaunch = func() error {
		server = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dataDir, "data"), "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dataDir,
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
		// Pdeathsig: if the test binary dies, the server goes with it.
		server.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
		server.Stdout, server.Stderr = logf, logf
		if err := server.Start(); err != nil {
			return fmt.Errorf("start postgres: %w", err)
		}
		return nil
	}
	if err := relaunch(); err != nil {
		return "", err
	}
	u := fmt.Sprintf("postgres://vise@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitReady(u, 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dataDir, "postgres.log"))
		return "", fmt.Errorf("%w; server log:\n%s", err, log)
	}
	return u, nil
}

func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb) not found")
}

// credential runs PostgreSQL as the "postgres" user when the tests run as
// root, because the server refuses to run as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user to start PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(u string, within time.Duration) error {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL did not become ready in %s: %w", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Down stops the server as an outage would (a fast shutdown: connections
// are cut); Up starts it again on the same port and data. Only for a
// server this package started: with VISE_TEST_POSTGRES the test skips.
func Down(t testing.TB) {
	t.Helper()
	if relaunch == nil {
		t.Skip("PostgreSQL is an existing server (VISE_TEST_POSTGRES); this test stops and starts it")
	}
	stop()
}

// Up starts the server again after Down and waits until it takes queries.
func Up(t testing.TB) {
	t.Helper()
	if err := relaunch(); err != nil {
		t.Fatal(err)
	}
	if err := waitReady(baseURL, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

func stop() {
	if server != nil && server.Process != nil {
		server.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			server.Process.Kill()
			<-done
		}
	}
}

func cleanup() {
	stop()
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
}
