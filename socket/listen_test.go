package socket

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestListenCreatesPrivateDirAndSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "trust-agent")
	path := filepath.Join(dir, "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if m := mode(t, dir); m.Perm() != 0o700 || !m.IsDir() {
		t.Errorf("directory mode %v, want drwx------", m)
	}
	if m := mode(t, path); m.Perm() != 0o600 || m.Type() != os.ModeSocket {
		t.Errorf("socket mode %v, want Srw-------", m)
	}
	l.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

func TestListenKeepsExistingSafeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(filepath.Join(dir, "agent.sock"))
	if err != nil {
		t.Fatalf("0755 directory refused: %v", err)
	}
	l.Close()
	if m := mode(t, dir); m.Perm() != 0o755 {
		t.Errorf("existing directory changed to %v", m)
	}
}

func TestListenRefusesWritableDir(t *testing.T) {
	for _, m := range []os.FileMode{0o770, 0o730, 0o702, 0o777 | os.ModeSticky} {
		t.Run(m.String(), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, m); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "agent.sock")
			l, err := Listen(path)
			if err == nil {
				l.Close()
				t.Fatal("listened in a directory others can write to")
			}
			if !containsAll(err.Error(), "socket: ", dir, "writable by group or others", "replace the socket") {
				t.Errorf("unclear error: %v", err)
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Error("socket created anyway")
			}
		})
	}
}

func TestListenRefusesNonDirAndNonSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(file, "agent.sock")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as directory: %v", err)
	}
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file as socket: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("regular file touched")
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close() // the file stays, nobody listens: a crashed agent's socket
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	serveOn(t, l, new(fakeAgent))
	if _, err := dialT(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m.Perm() != 0o600 {
		t.Errorf("socket mode %v", m)
	}
}

func TestListenNeverTakesOverLiveAgent(t *testing.T) {
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	l, err := Listen(path)
	if err == nil {
		l.Close()
		t.Fatal("took over a live agent's socket")
	}
	if want := "another agent is already listening on " + path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := dialT(t, path).Status(context.Background()); err != nil {
		t.Fatalf("live agent disturbed: %v", err)
	}
}
