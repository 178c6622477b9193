package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/pkcs11" // registers pkcs11:
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// socketDir is a fresh directory for a socket: short (a Unix socket's path
// has about 108 bytes), 0700, removed after the test.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "daemon-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// start runs Run in the background and waits for Ready; the returned stop
// cancels it and hands back Run's error.
func start(t *testing.T, o Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before Ready: %v", err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestRun starts an agent on a SoftHSM token, with an audit log and a
// metrics endpoint, makes a key through the socket, and stops it: the
// socket and its lock are gone, the audit log kept the request.
func TestRun(t *testing.T) {
	uri := softhsmtest.Token(t, "1234")
	dir := socketDir(t)
	sock := filepath.Join(dir, "agent.sock")
	audit := filepath.Join(dir, "audit.log")
	metrics := filepath.Join(dir, "metrics.sock")
	stop := start(t, Options{Socket: sock, Backends: []string{uri}, AuditLog: audit, MetricsAddr: "unix:" + metrics})

	c, err := socket.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || len(st.Backends) != 1 || st.Locked {
		t.Fatalf("status: pid %d (want %d), %d backends (want 1), locked %v", st.PID, os.Getpid(), len(st.Backends), st.Locked)
	}
	key, err := c.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.List(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != key.ID {
		t.Fatalf("list: %v, %v; want the key just made", keys, err)
	}

	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", metrics)
	}}}
	resp, err := hc.Get("http://agent/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "trust_agent_keys{backend=" + strconv.Quote(st.Backends[0].Name) + "} 1\n"; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q:\n%s", want, body)
	}
	// The audit log's start line and the generate's: two commits.
	for _, want := range []string{"trust_agent_audit_commits_total 2\n", "trust_agent_audit_lines_total 2\n", "trust_agent_audit_sync_seconds_total "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if fi, err := os.Stat(metrics); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("metrics socket: %v, %v; want mode 0600", fi, err)
	}

	c.Close()
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	for _, p := range []string{sock, sock + ".lock"} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after stop: %v, want it gone", p, err)
		}
	}
	if _, err := socket.Dial(sock); err == nil {
		t.Error("dialled the agent after stop")
	}
	log, err := os.ReadFile(audit)
	if err != nil || !strings.Contains(string(log), `"op":"generate"`) {
		t.Errorf("audit log %q (%v) lacks the generate request", log, err)
	}
}

// TestRunRemoveDir: an agent with no backend and no audit log serves, and
// removes the directory made for it at exit; one with an audit log there
// leaves the directory (and the log) alone.
func TestRunRemoveDir(t *testing.T) {
	for _, withAudit := range []bool{false, true} {
		dir := filepath.Join(socketDir(t), "run")
		sock := filepath.Join(dir, "agent.sock")
		o := Options{Socket: sock, RemoveDir: true}
		if withAudit {
			o.AuditLog = filepath.Join(dir, "audit.log")
		}
		stop := start(t, o)
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("socket directory: %v, %v; want it made 0700", fi, err)
		}
		c, err := socket.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := c.Status(context.Background()); err != nil || len(st.Backends) != 0 {
			t.Fatalf("status: %+v, %v; want no backend", st, err)
		}
		c.Close()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(dir)
		if gone := errors.Is(err, fs.ErrNotExist); gone == withAudit {
			t.Errorf("audit log %v: directory after stop: %v", withAudit, err)
		}
	}
}

// TestRunErrors: each mistake is returned before Ready, says what to do,
// and leaves no socket behind (an agent that does not start must not keep
// the path from the next one).
func TestRunErrors(t *testing.T) {
	uri := softhsmtest.Token(t, "1234")
	notExec := filepath.Join(socketDir(t), "askpass")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"relative socket", Options{Socket: "agent.sock"}, "daemon: socket path \"agent.sock\" is not absolute"},
		{"unknown scheme", Options{Backends: []string{"nosuch:x"}}, "nosuch"},
		{"module not absolute", Options{Backends: []string{"pkcs11:token=t?module-path=libsofthsm2.so"}}, "libsofthsm2.so"},
		{"askpass relative", Options{Backends: []string{uri}, Askpass: "askpass"}, "TRUST_AGENT_ASKPASS=askpass is not an absolute path; name the askpass program by its full path"},
		{"askpass not executable", Options{Backends: []string{uri}, Askpass: notExec}, "is not an executable file"},
		{"metrics not loopback", Options{Backends: []string{uri}, MetricsAddr: "0.0.0.0:0"}, "is not a loopback address; use 127.0.0.1:PORT"},
		{"audit log in a missing directory", Options{Backends: []string{uri}, AuditLog: "/nonexistent/dir/audit.log"}, "audit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := socketDir(t)
			if tc.o.Socket == "" {
				tc.o.Socket = filepath.Join(dir, "agent.sock")
			}
			tc.o.Ready = func() { t.Error("Ready called") }
			err := Run(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "agent.sock")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket after a failed start: %v, want none", err)
			}
		})
	}
}

// TestRunUnsafeDir: a socket directory others may write to is refused
// before any backend is opened.
func TestRunUnsafeDir(t *testing.T) {
	dir := socketDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{Socket: filepath.Join(dir, "agent.sock"), Backends: []string{"nosuch:x"}})
	if err == nil || strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("Run in a 0777 directory: %v, want the directory refused first", err)
	}
}

// TestRunSecondAgent: a second agent on a live agent's path fails and
// leaves the first one serving.
func TestRunSecondAgent(t *testing.T) {
	sock := filepath.Join(socketDir(t), "agent.sock")
	start(t, Options{Socket: sock})
	err := Run(context.Background(), Options{Socket: sock, Ready: func() { t.Error("second agent ready") }})
	if err == nil || !strings.Contains(err.Error(), "another agent is already listening") {
		t.Fatalf("second Run: %v", err)
	}
	c, err := socket.Dial(sock)
	if err != nil {
		t.Fatalf("first agent after the second failed: %v", err)
	}
	defer c.Close()
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestActivatedNone: without LISTEN_FDS, or with them meant for another
// process, there is no passed socket and the variables stay.
func TestActivatedNone(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	if l, err := Activated(); l != nil || err != nil {
		t.Fatalf("no LISTEN_FDS: %v, %v", l, err)
	}
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	if l, err := Activated(); l != nil || err != nil {
		t.Fatalf("LISTEN_PID of another process: %v, %v", l, err)
	}
	if os.Getenv("LISTEN_FDS") != "1" {
		t.Error("LISTEN_FDS meant for another process was unset")
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "2")
	if _, err := Activated(); err == nil || !strings.Contains(err.Error(), "passed 2 sockets") {
		t.Fatalf("two sockets: %v", err)
	}
	if os.Getenv("LISTEN_FDS") != "" || os.Getenv("LISTEN_PID") != "" {
		t.Error("LISTEN_* left set for children")
	}
}
