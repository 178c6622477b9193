package socket

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// staleSocket leaves a socket file at path that nothing listens on, as a
// crashed agent does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
}

// Agents started together over a stale socket: exactly one listens, the
// others say another agent is listening, and the one that listens is the
// one whose socket is at the path. Without the lock two of them could both
// find the socket stale, and the second removed the first's live socket.
func TestListenRaceOverStaleSocket(t *testing.T) {
	const tries, agents = 150, 4
	for i := range tries {
		path := filepath.Join(t.TempDir(), "agent.sock")
		staleSocket(t, path)
		var wg sync.WaitGroup
		ls := make([]net.Listener, agents)
		errs := make([]error, agents)
		start := make(chan struct{})
		for j := range agents {
			wg.Go(func() {
				<-start
				ls[j], errs[j] = Listen(path)
			})
		}
		close(start)
		wg.Wait()
		var won []net.Listener
		for j, err := range errs {
			switch {
			case err == nil:
				won = append(won, ls[j])
			case !strings.Contains(err.Error(), "another agent is already listening on "+path):
				t.Errorf("try %d: unexpected error: %v", i, err)
			}
		}
		if len(won) != 1 {
			for _, l := range won {
				l.Close()
			}
			t.Fatalf("try %d: %d agents listen on one path, want 1", i, len(won))
		}
		// The winner is the one that answers at the path.
		go func() {
			if c, err := won[0].Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			t.Fatalf("try %d: the winner's socket is gone: %v", i, err)
		}
		c.Close()
		won[0].Close()
	}
}

// An agent that has taken the lock but not yet bound (opening a slow
// PKCS#11 module, say) already keeps a second agent out.
func TestListenRefusedWhileLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if err == nil {
		l.Close()
		f.Close()
		t.Fatal("listened while another agent held the lock")
	}
	if want := "another agent is already listening on " + path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket created anyway: %v", err)
	}
	f.Close() // the other agent gave up
	l, err = Listen(path)
	if err != nil {
		t.Fatalf("lock released, yet: %v", err)
	}
	l.Close()
}

// The lock lasts as long as the listener: released (and its file removed)
// by Close, so the same path can be listened on again.
func TestListenLockLifetime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path+".lock"); m.Perm() != 0o600 || !m.IsRegular() {
		t.Errorf("lock file mode %v, want -rw-------", m)
	}
	if l2, err := Listen(path); err == nil {
		l2.Close()
		t.Fatal("a second listener on a held path")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, p := range []string{path, path + ".lock"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Close: %v", p, err)
		}
	}
	l, err = Listen(path)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	l.Close()
}

// An agent whose socket was removed by hand, and replaced by another
// agent's, leaves the other agent's socket and lock alone when it exits.
func TestListenCloseSparesAnotherAgentsSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	os.Remove(path) // rm -f the agent's files by hand ...
	os.Remove(path + ".lock")
	second, err := Listen(path) // ... and start another
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, second, new(fakeAgent))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dialT(t, path).Status(context.Background()); err != nil {
		t.Fatalf("the first agent's exit took the second's socket: %v", err)
	}
	if _, err := os.Lstat(path + ".lock"); err != nil {
		t.Fatalf("the first agent's exit took the second's lock file: %v", err)
	}
	if l, err := Listen(path); err == nil {
		l.Close()
		t.Fatal("the second agent's lock no longer holds")
	}
}

// Every directory above the socket's is checked too: one that others can
// write to lets them rename the path away and put their own socket there.
func TestListenChecksAncestors(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode // of the directory two levels up from the socket
		refused bool
	}{
		{"private", 0o700, false},
		{"readable by all", 0o755, false},
		{"group-writable", 0o770, true},
		{"world-writable", 0o777, true},
		{"others-writable only", 0o703, true},
		// Sticky is enough only for root's directories, as /tmp.
		{"sticky and world-writable", 0o777 | os.ModeSticky, os.Geteuid() != 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "top")
			if err := os.Mkdir(top, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(top, tt.mode); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(top, "mid", "run")
			path := filepath.Join(dir, "agent.sock")
			l, err := Listen(path)
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatal("listened under a directory others can write to")
			}
			if !containsAll(err.Error(), "socket: directory "+top+",", "above the socket directory "+dir, "writable by group or others") {
				t.Errorf("unclear error: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(top, "mid")); !os.IsNotExist(err) {
				t.Error("directories created under the unsafe one")
			}
		})
	}
}

// A symbolic link on the way is followed: the directories it leads to are
// checked, not only the ones its name passes through.
func TestListenChecksWhereLinksLead(t *testing.T) {
	tmp := t.TempDir()
	unsafe := filepath.Join(tmp, "unsafe")
	if err := os.MkdirAll(filepath.Join(unsafe, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(unsafe, 0o777); err != nil {
		t.Fatal(err)
	}
	safe := filepath.Join(tmp, "safe")
	if err := os.Mkdir(safe, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(unsafe, "real"), filepath.Join(safe, "link")); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(filepath.Join(safe, "link", "agent.sock"))
	if err == nil {
		l.Close()
		t.Fatal("listened through a link into a directory others can write to")
	}
	if !containsAll(err.Error(), "socket: directory "+unsafe+",", "writable by group or others") {
		t.Errorf("unclear error: %v", err)
	}
}
