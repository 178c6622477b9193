package socket

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// staleProbeTimeout bounds the connect Listen makes to tell a live agent
// from a socket file a dead one left behind.
const staleProbeTimeout = 2 * time.Second

// Listen listens on a Unix socket at path for Serve.
//
// The directory holding path is created with mode 0700 when it is missing.
// An existing directory that group or others can write to is refused, sticky
// or not, as is one owned by another user (root aside): whoever can write
// there can put their own socket in place of ours and collect PINs and the
// data clients send to sign.
//
// The socket is chmod-ed to 0600 right after bind, not bound under a
// changed umask: the umask belongs to the whole process and other goroutines
// create files meanwhile. For the moment between bind and chmod the socket
// has the umask's mode. That is safe: no other user can replace it (the
// directory is checked above), in a directory created here no other user
// can even reach it, and a peer that connects in that moment is still
// refused by Serve's credential check.
//
// A socket file left by a dead agent (connecting to it is refused) is
// removed and replaced. A live agent's socket is never taken over.
func Listen(path string) (net.Listener, error) {
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return l, nil
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("socket: create socket directory: %w", err)
		}
		// The umask can only take bits away, but say exactly what we mean.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("socket: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket: %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("socket: directory %s is writable by group or others (mode %04o): another user could replace "+
			"the socket with their own and receive PINs and data to sign; use a directory only you can write to", dir, perm)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("socket: directory %s belongs to uid %d, not to you: its owner could replace the socket", dir, uid)
	}
	return nil
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
