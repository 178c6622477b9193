//go:build unix

package virtualcard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrAddrBusy is returned by ClaimAddr when another card holds the address.
var ErrAddrBusy = errors.New("virtualcard: vpcd address claimed by another card")

// ClaimAddr takes an advisory, process-wide lock on a vpcd address, so
// cards in parallel test binaries (go test ./... runs packages at once)
// and the virtualcard command never plug into the same reader: vpcd
// serves one card per port. The lock is a flock on a file in
// os.TempDir(), released by release or when the process ends. It does
// not block: a held address gives ErrAddrBusy.
func ClaimAddr(addr string) (release func(), err error) {
	name := "virtualcard-vpcd-" + strings.NewReplacer(":", "-", "/", "-", "[", "", "]", "").Replace(addr) + ".lock"
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("virtualcard: claiming %s: %w", addr, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrAddrBusy, addr)
		}
		return nil, fmt.Errorf("virtualcard: claiming %s: %w", addr, err)
	}
	return func() { f.Close() }, nil
}
