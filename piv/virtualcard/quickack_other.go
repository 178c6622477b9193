//go:build !linux

package virtualcard

import "net"

// withQuickAck is Linux-only (see quickack_linux.go); elsewhere the
// delayed-ACK stall just costs time.
func withQuickAck(c net.Conn) net.Conn { return c }
