// Package smallfile reads a file that is expected to be small (a CA
// bundle, a certificate chain, an attestation) whole, and refuses one that
// is larger than it should be before reading more of it: a wrong path (a
// log, a device, /dev/zero) cannot fill memory. Secrets are read with
// internal/secretfile instead, which also checks the file's mode.
package smallfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the content of path, of at most max bytes. A larger file
// is refused with an error that names it and says what it should hold
// (what, e.g. "a certificate chain is a few KiB").
func Read(path string, max int, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes; %s", path, max, what)
	}
	return b, nil
}
