package trusttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// PsqlProgram is PostgreSQL's client, which applies notary's migrations.
const PsqlProgram = "psql"

// postgresStartTimeout bounds how long StartPostgres waits for the server
// to accept connections.
const postgresStartTimeout = 30 * time.Second

// postgresUID is who runs the cluster when the test runs as root, which
// PostgreSQL refuses ("initdb: cannot be run as root"): nobody.
const postgresUID = 65534

// Postgres is a throwaway PostgreSQL cluster in a temporary directory,
// listening on a free loopback port with trust authentication (anyone who
// can reach 127.0.0.1 may log in as any role: tests only). Its superuser
// is "postgres".
type Postgres struct {
	Port int
	Dir  string // the data directory

	bin   string // /usr/lib/postgresql/NN/bin
	runAs []string
	log   *syncbuf.Buffer
	stop  func()
}

// Log returns what the server has logged so far.
func (p *Postgres) Log() string { return p.log.String() }

// URL is a libpq URL for role user and database db over TCP without TLS.
func (p *Postgres) URL(user, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, p.Port, db)
}

// postgresBin finds the newest /usr/lib/postgresql/NN/bin with initdb.
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[0])
}

// StartPostgres makes a cluster with initdb and starts it; it is stopped
// and removed at t.Cleanup. As root it runs as nobody (through setpriv).
// Without PostgreSQL it skips the test, or fails it when CI=true.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		requireFile(t, "/usr/lib/postgresql/NN/bin/initdb", "postgresql")
	}
	RequireProgram(t, PsqlProgram)
	// Not t.TempDir: its parents are 0700 root, closed to nobody.
	dir := SharedTempDir(t)
	p := &Postgres{Dir: filepath.Join(dir, "data"), bin: bin, log: new(syncbuf.Buffer)}
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	if os.Geteuid() == 0 {
		RequireProgram(t, "setpriv")
		if err := os.Chown(p.Dir, postgresUID, postgresUID); err != nil {
			t.Fatalf("trusttest: %v", err)
		}
		p.runAs = []string{"setpriv", "--reuid=" + strconv.Itoa(postgresUID), "--regid=" + strconv.Itoa(postgresUID), "--clear-groups", "--"}
	}
	initdb := p.command(filepath.Join(bin, "initdb"), "-D", p.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("trusttest: initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken before postgres binds it
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("trusttest: %v", err)
		}
		_, port, _ := net.SplitHostPort(addr)
		p.Port, _ = strconv.Atoi(port)
		if lastErr = p.start(); lastErr == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("postgres log (last %d lines):\n%s", logTail, tail(p.Log(), logTail))
				}
			})
			return p
		}
	}
	t.Fatalf("trusttest: postgres did not start: %v", lastErr)
	return nil
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.runAs...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	dieWithTest(cmd)
	return cmd
}

// start runs postgres in the foreground (fsync off: the tests restart it
// cleanly, never crash it) and waits until it accepts connections.
func (p *Postgres) start() error {
	cmd := p.command(filepath.Join(p.bin, "postgres"), "-D", p.Dir, "-p", strconv.Itoa(p.Port),
		"-k", p.Dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	p.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(postgresStartTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	for {
		ready := exec.CommandContext(ctx, filepath.Join(p.bin, "pg_isready"), "-q", "-U", "postgres", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port))
		if ready.Run() == nil {
			return nil
		}
		select {
		case err := <-exited:
			return &startError{err: fmt.Errorf("postgres exited: %s", errString(err)), log: p.Log()}
		case <-ctx.Done():
			p.stop()
			return &startError{err: ctx.Err(), log: p.Log()}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Restart stops the server (a fast, clean shutdown) and starts it again on
// the same port and data.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	if err := p.start(); err != nil {
		t.Fatalf("trusttest: postgres did not start again: %v", err)
	}
}

// Psql runs psql as role user on database db with ON_ERROR_STOP, with the
// given arguments (-c SQL, -f FILE), and returns its output.
func (p *Postgres) Psql(t testing.TB, user, db string, args ...string) string {
	t.Helper()
	argv := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", p.URL(user, db)}, args...)
	out, err := exec.Command(PsqlProgram, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("trusttest: psql %v: %v\n%s", args, err, out)
	}
	return string(out)
}
