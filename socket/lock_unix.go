//go:build unix

package socket

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockRetries bounds how often lockFile retries when the lock file it
// locked was unlinked meanwhile by an agent that was closing.
const lockRetries = 10

// errLockHeld means another process holds the lock.
var errLockHeld = errors.New("lock held by another process")

// lockFile creates (mode 0600, never through a symlink) and flock-s the
// file at path, without waiting. The lock lasts until the returned file is
// closed. An agent unlinks its lock file when it closes, so a lock taken on
// a file that is no longer at path protects nothing: lockFile checks, after
// locking, that path still names the locked file, and starts again if not.
func lockFile(path string) (*os.File, error) {
	for range lockRetries {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("socket: lock file: %w", err)
		}
		if err := flock(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLockHeld
			}
			return nil, fmt.Errorf("socket: lock %s: %w", path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Lstat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			if !held.Mode().IsRegular() {
				f.Close()
				return nil, fmt.Errorf("socket: lock file %s is not a regular file", path)
			}
			return f, nil
		}
		f.Close() // unlinked or replaced under us: take the new one
	}
	return nil, fmt.Errorf("socket: lock file %s keeps being replaced", path)
}

func flock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
