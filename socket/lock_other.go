//go:build !unix

package socket

import (
	"errors"
	"os"
)

var errLockHeld = errors.New("lock held by another process")

// lockFile does nothing where flock is missing: two agents started at the
// same moment on the same path can then race (see Listen).
func lockFile(string) (*os.File, error) { return nil, nil }
