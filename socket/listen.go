package socket

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// staleProbeTimeout bounds the connect Listen makes to tell a live agent
// from a socket file a dead one left behind.
const staleProbeTimeout = 2 * time.Second

// Listen listens on a Unix socket at path for Serve.
//
// The directory holding path and every directory above it are checked by
// CheckDir first (and the directory created 0700 when missing): whoever can
// write to any of them can put their own socket in place of ours and collect
// PINs and the data clients send to sign.
//
// The socket is chmod-ed to 0600 right after bind, not bound under a
// changed umask: the umask belongs to the whole process and other goroutines
// create files meanwhile. For the moment between bind and chmod the socket
// has the umask's mode. That is safe: no other user can replace it (the
// directory is checked above), in a directory created here no other user
// can even reach it, and a peer that connects in that moment is still
// refused by Serve's credential check.
//
// Two agents never share a path: Listen takes an exclusive flock on
// path+".lock" (mode 0600, beside the socket) before it looks at path, and
// the Listener holds it until Close. With the lock held, a socket file left
// by a dead agent (connecting to it is refused) is removed and replaced; a
// live agent's socket is never taken over, and a second Listen on the same
// path, while the first holds the lock, fails with "another agent is already
// listening on PATH" even before the first has bound.
func Listen(path string) (*Listener, error) {
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lockPath := path + ".lock"
	lock, err := lockFile(lockPath)
	if errors.Is(err, errLockHeld) {
		return nil, fmt.Errorf("socket: another agent is already listening on %s (it holds %s)", path, lockPath)
	}
	if err != nil {
		return nil, err
	}
	l := &Listener{path: path, lockPath: lockPath, lock: lock}
	if err := removeStale(path); err != nil {
		l.unlock()
		return nil, err
	}
	l.ul, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		l.unlock()
		return nil, fmt.Errorf("socket: listen: %w", err)
	}
	// Close unlinks the socket itself, and only if it is still ours.
	l.ul.SetUnlinkOnClose(false)
	if l.bound, err = os.Lstat(path); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return l, nil
}

// Listener is a Unix socket listener made by Listen. It holds the path's
// lock file until Close.
//
// Accept and Addr are safe to call from multiple goroutines, and Close may
// be called from any goroutine, any number of times.
type Listener struct {
	ul       *net.UnixListener
	path     string
	lockPath string
	lock     *os.File    // flock-ed; nil where flock is missing
	bound    os.FileInfo // the socket file as bound, to recognise it at Close

	once     sync.Once
	closeErr error
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) { return l.ul.Accept() }

// Addr returns the socket's address.
func (l *Listener) Addr() net.Addr { return l.ul.Addr() }

// Close stops listening, removes the socket file if it is still the one
// Listen bound (not one another agent put there since: a user may have
// removed ours by hand and started another agent on the same path) and then
// releases the lock. Later calls return the first call's result.
func (l *Listener) Close() error {
	l.once.Do(func() {
		if fi, err := os.Lstat(l.path); err == nil && l.bound != nil && os.SameFile(fi, l.bound) {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.closeErr = fmt.Errorf("socket: remove socket: %w", err)
			}
		}
		if err := l.ul.Close(); err != nil && l.closeErr == nil {
			l.closeErr = fmt.Errorf("socket: close: %w", err)
		}
		l.unlock()
	})
	return l.closeErr
}

// unlock removes the lock file, if it is still ours, and then releases the
// lock: in that order, so that a Listen waiting for the lock finds either
// our locked file or none (see lockFile).
func (l *Listener) unlock() {
	if l.lock == nil {
		return
	}
	if held, err := l.lock.Stat(); err == nil {
		if now, err := os.Lstat(l.lockPath); err == nil && os.SameFile(held, now) {
			os.Remove(l.lockPath)
		}
	}
	l.lock.Close()
	l.lock = nil
}

// removeStale removes a socket at path that nothing listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket: %s exists and is not a socket; not touching it", path)
	}
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("socket: another agent is already listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket: cannot tell whether an agent listens on %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("socket: remove stale socket: %w", err)
	}
	return nil
}
