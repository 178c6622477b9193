package virtualcard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultAddr is where vsmartcard's vpcd driver listens for the first
// virtual reader (/etc/reader.conf.d/vpcd: CHANNELID 0x8C7B = 35963).
const DefaultAddr = "127.0.0.1:35963"

// vpcd control messages: a message of one byte is a control, anything
// longer is a command APDU.
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// ReinsertDelay is how long a removed card stays out before Insert
// reconnects. pcscd 1.9.9 polls the reader about twice a second; if a card
// disconnects and another connects before one poll, pcscd reports the
// reader empty until the next re-insert. A second covers two polls.
const ReinsertDelay = time.Second

// dialTimeout bounds connecting to vpcd, which listens on loopback.
const dialTimeout = 5 * time.Second

// Serve speaks vpcd's protocol on conn until it fails or closes: every
// message is a big-endian uint16 length then that many bytes; vpcd asks,
// the card answers (power and reset get no answer). A clean close by vpcd
// returns nil. Messages are at most 65535 bytes by construction, so the
// length itself is the cap on what is read.
func (c *Card) Serve(conn io.ReadWriter) error {
	var hdr [2]byte
	buf := make([]byte, 0xffff)
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("virtualcard: reading from vpcd: %w", err)
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		msg := buf[:n]
		if _, err := io.ReadFull(conn, msg); err != nil {
			return fmt.Errorf("virtualcard: reading from vpcd: %w", err)
		}
		var out []byte
		switch {
		case n == 1 && msg[0] == vpcdGetATR:
			out = c.ATR()
		case n == 1 && (msg[0] == vpcdPowerOff || msg[0] == vpcdPowerOn || msg[0] == vpcdReset):
			c.PowerCycle()
			continue
		case n == 1:
			continue // unknown control: vpcd expects no answer
		default:
			out = c.Transmit(msg)
		}
		frame := make([]byte, 2, 2+len(out))
		binary.BigEndian.PutUint16(frame, uint16(len(out)))
		if _, err := conn.Write(append(frame, out...)); err != nil {
			return fmt.Errorf("virtualcard: writing to vpcd: %w", err)
		}
	}
}

// Link is a card plugged into a vpcd reader: a TCP connection from the
// card to vpcd, served by a goroutine. Remove and Insert simulate pulling
// the card out and plugging it back in; the keys stay on the Card. Link's
// methods are safe for concurrent use.
type Link struct {
	card *Card
	addr string

	mu        sync.Mutex
	conn      net.Conn
	done      chan struct{}
	err       error // from the last serve goroutine
	removedAt time.Time
	closed    bool
}

// Connect plugs the card into the vpcd reader at addr (DefaultAddr when
// empty) and serves it in the background until Remove or Close.
func (c *Card) Connect(addr string) (*Link, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	l := &Link{card: c, addr: addr}
	if err := l.dial(); err != nil {
		return nil, err
	}
	return l, nil
}

// dial connects and starts serving; l.mu must be held or l unshared.
func (l *Link) dial() error {
	conn, err := net.DialTimeout("tcp", l.addr, dialTimeout)
	if err != nil {
		return fmt.Errorf("virtualcard: connecting to vpcd: %w", err)
	}
	// A card answers from power-on: forget any session from before.
	l.card.PowerCycle()
	done := make(chan struct{})
	l.conn, l.done, l.err = conn, done, nil
	go func() {
		err := l.card.Serve(withQuickAck(conn))
		conn.Close()
		l.mu.Lock()
		if l.conn == conn {
			l.err = err
			l.conn = nil
			l.removedAt = time.Now()
		}
		l.mu.Unlock()
		close(done)
	}()
	return nil
}

// Addr is the vpcd address the link dials.
func (l *Link) Addr() string { return l.addr }

// Card is the card behind the link.
func (l *Link) Card() *Card { return l.card }

// Inserted reports whether the card is connected to vpcd right now.
func (l *Link) Inserted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn != nil
}

// Done is closed when the current connection ends (Remove, Close, or vpcd
// going away, for instance when pcscd stops).
func (l *Link) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return l.done
}

// Err is the error that ended the last connection, nil after a clean end.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Remove unplugs the card: the connection closes and pcscd sees the
// reader empty at its next poll. Removing a removed card does nothing.
func (l *Link) Remove() error {
	l.mu.Lock()
	conn, done := l.conn, l.done
	if conn != nil {
		l.conn = nil
		l.removedAt = time.Now()
	}
	l.mu.Unlock()
	if conn == nil {
		return nil
	}
	err := conn.Close()
	<-done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("virtualcard: removing card: %w", err)
	}
	return nil
}

// Insert plugs the card back in, first waiting out ReinsertDelay since the
// removal (see there for the pcscd race). Inserting an inserted card does
// nothing.
func (l *Link) Insert() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("virtualcard: link closed")
	}
	if l.conn != nil {
		return nil
	}
	if wait := ReinsertDelay - time.Since(l.removedAt); wait > 0 {
		time.Sleep(wait)
	}
	return l.dial()
}

// Close removes the card for good.
func (l *Link) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.Remove()
}
