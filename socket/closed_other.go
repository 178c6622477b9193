//go:build !unix

package socket

import "net"

// peerClosed cannot tell here; a call on a closed connection fails and
// an idempotent one is retried on a new connection.
func peerClosed(net.Conn) bool { return false }
