//go:build unix

package socket

import "syscall"

// raiseNOFILE raises the soft limit on open files to n where the hard limit
// allows; a child process inherits it.
func raiseNOFILE(n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < n && lim.Max >= n {
		lim.Cur = n
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
