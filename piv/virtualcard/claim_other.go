//go:build !unix

package virtualcard

import "errors"

// ErrAddrBusy is returned by ClaimAddr when another card holds the address.
var ErrAddrBusy = errors.New("virtualcard: vpcd address claimed by another card")

// ClaimAddr claims nothing where flock is missing: there is no pcscd with
// vpcd there to share either.
func ClaimAddr(addr string) (release func(), err error) { return func() {}, nil }
