package virtualcard

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestServe plays vpcd over a pipe: framing, the ATR, power messages
// (no answer) and an APDU.
func TestServe(t *testing.T) {
	tc := newTestCard(t, Options{})
	cardEnd, vpcd := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- tc.card.Serve(cardEnd) }()
	vpcd.SetDeadline(time.Now().Add(5 * time.Second))

	send := func(msg []byte) {
		t.Helper()
		frame := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		if _, err := vpcd.Write(append(frame, msg...)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	recv := func() []byte {
		t.Helper()
		var hdr [2]byte
		if _, err := io.ReadFull(vpcd, hdr[:]); err != nil {
			t.Fatalf("read: %v", err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(vpcd, msg); err != nil {
			t.Fatalf("read: %v", err)
		}
		return msg
	}

	send([]byte{vpcdPowerOn})
	send([]byte{vpcdGetATR})
	if got := recv(); !bytes.Equal(got, tc.card.ATR()) {
		t.Errorf("ATR % x", got)
	}
	send([]byte{vpcdReset})
	send(unhex(t, "00 fd 00 00 00"))
	if got := recv(); !bytes.Equal(got, []byte{5, 7, 1, 0x90, 0x00}) {
		t.Errorf("GET VERSION answer % x", got)
	}
	vpcd.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve after vpcd closed: %v", err)
	}
}

// TestLinkRemoveInsert runs a Link against a fake vpcd listener.
func TestLinkRemoveInsert(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	tc := newTestCard(t, Options{})
	link, err := tc.card.Connect(ln.Addr().String())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer link.Close()
	first := <-conns
	if !link.Inserted() {
		t.Error("not inserted after Connect")
	}
	start := time.Now()
	if err := link.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	first.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Error("vpcd side still open after Remove")
	}
	if err := link.Insert(); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if waited := time.Since(start); waited < ReinsertDelay {
		t.Errorf("Insert came back after %v, before ReinsertDelay", waited)
	}
	<-conns
	if !link.Inserted() {
		t.Error("not inserted after Insert")
	}
}
