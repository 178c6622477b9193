package virtualcard

import (
	"net"
	"syscall"
)

// quickAckConn turns on TCP_QUICKACK before every read. vpcd writes each
// message as two send() calls (length, then body) with Nagle's algorithm
// on, so the body waits for the ACK of the length, and Linux delays that
// ACK by up to 40 ms: every APDU took ~43 ms. Linux clears QUICKACK
// after use, hence once per read.
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, raw: raw}
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	c.raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return c.TCPConn.Read(p)
}
