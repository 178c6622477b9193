package socket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
)

// Version is the protocol version this package speaks, the second field of
// every frame. See docs/PROTOCOL.md.
const Version = 1

// maxFrameBytes caps a frame's length field (version + type + body), in
// requests and in responses alike. TUF targets metadata of a big repository
// runs to megabytes, and JSON carries it in base64 (4/3 larger), so 16 MiB
// leaves room for about 12 MiB of signed data. Anything larger is refused
// from the 4-byte header alone, before a byte of body is read or allocated.
const maxFrameBytes = 16 << 20

// headerBytes is the fixed part of a frame: the uint32 length, the version
// and the message type.
const headerBytes = 4 + 1 + 1

// growChunk is how much body readFrame allocates ahead of the bytes it has
// actually received, so a peer announcing 16 MiB and sending ten bytes costs
// ten bytes plus this, not 16 MiB.
const growChunk = 64 << 10

// Frame errors. Both make the reader close the connection: after them the
// stream can no longer be split into frames.
var (
	ErrFrameTooLarge  = errors.New("socket: frame too large")
	ErrMalformedFrame = errors.New("socket: malformed frame")
)

// msgType is a frame's message type. Requests are below 0x80; a successful
// response has the request's type with the high bit set; a failure is
// msgFailure whatever the request.
type msgType byte

const (
	msgList        msgType = 0x01
	msgSign        msgType = 0x02
	msgCertifyRoot msgType = 0x03
	msgGenerate    msgType = 0x04
	msgImport      msgType = 0x05
	msgLock        msgType = 0x06
	msgUnlock      msgType = 0x07
	msgStatus      msgType = 0x08
	msgAttest      msgType = 0x09
	msgDelete      msgType = 0x0A
	msgSignPayload msgType = 0x0B
	msgCertifyKey  msgType = 0x0C

	msgSuccess msgType = 0x80 // OR-ed into the request's type
	msgFailure msgType = 0xFF
)

var msgNames = map[msgType]string{
	msgList:        "list",
	msgSign:        "sign",
	msgCertifyRoot: "certify-root",
	msgGenerate:    "generate",
	msgImport:      "import",
	msgLock:        "lock",
	msgUnlock:      "unlock",
	msgStatus:      "status",
	msgAttest:      "attest",
	msgDelete:      "delete",
	msgSignPayload: "sign-payload",
	msgCertifyKey:  "certify-key",
	msgFailure:     "failure",
}

func (t msgType) String() string {
	if s, ok := msgNames[t]; ok {
		return s
	}
	if s, ok := msgNames[t&^msgSuccess]; ok && t&msgSuccess != 0 {
		return s + "-ok"
	}
	return fmt.Sprintf("0x%02x", byte(t))
}

// frame is one message on the wire.
type frame struct {
	version byte
	typ     msgType
	body    []byte
}

// readFrame reads one frame from r. It returns io.EOF only when r ends
// cleanly between frames. A length field over limit is refused with
// ErrFrameTooLarge before any of the body is read; a length below 2 or a
// stream that ends inside a frame gives ErrMalformedFrame. The version is not
// checked here: the length field means the same in every version, so the
// caller can skip a frame it does not understand and keep the stream in step.
func readFrame(r io.Reader, limit uint32) (frame, error) {
	f, _, err := readFrameBudget(r, limit, nil)
	return f, err
}

// readFrameBudget is readFrame for a server with a memory budget: once the
// header is read, a body over smallBody bytes is read only after acquire(n)
// granted its n bytes; the returned release gives them back (call it when
// the body is no longer used; it is never nil). An acquire error is returned
// as it is, with the body left unread. A nil acquire grants everything.
func readFrameBudget(r io.Reader, limit uint32, acquire func(n int) (release func(), err error)) (frame, func(), error) {
	none := func() {}
	var hdr [headerBytes]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		if err == io.EOF {
			return frame{}, none, io.EOF
		}
		return frame{}, none, fmt.Errorf("%w: length: %w", ErrMalformedFrame, err)
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n > limit {
		return frame{}, none, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, limit)
	}
	if n < 2 {
		return frame{}, none, fmt.Errorf("%w: length %d is shorter than version and type", ErrMalformedFrame, n)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return frame{}, none, fmt.Errorf("%w: header: %w", ErrMalformedFrame, noEOF(err))
	}
	release := none
	if size := int(n - 2); size > smallBody && acquire != nil {
		var err error
		if release, err = acquire(size); err != nil {
			return frame{}, none, err
		}
	}
	body, err := readBody(r, int(n-2))
	if err != nil {
		release()
		return frame{}, none, fmt.Errorf("%w: body: %w", ErrMalformedFrame, noEOF(err))
	}
	return frame{version: hdr[4], typ: msgType(hdr[5]), body: body}, release, nil
}

// smallBody is the body size up to which a server reads a frame without
// asking its memory budget: every request but sign (and import of a big
// key) fits, so such requests are served while big frames wait for budget.
// With ServeOptions.MaxConns connections, small bodies cost at most
// MaxConns × smallBody (16 MiB at the defaults).
const smallBody = 64 << 10

// bodyChunk is the piece a body over it is read in. A body grows by
// doubling up to bodyChunk, then by whole chunks, and is copied into one
// buffer once complete: a stalled frame holds about what arrived (rounded up
// to bodyChunk), not what it announced, and no outgrown buffers pile up as
// garbage. The price is one copy of a complete big body.
const bodyChunk = 1 << 20

// readBody reads exactly n bytes, growing its buffers only as data arrives
// (at most bodyChunk ahead of it).
func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, 0, min(n, growChunk))
	first := min(n, bodyChunk)
	for len(buf) < first {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(first-len(buf), len(buf)))
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), first)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < first {
			return nil, err
		}
	}
	if n == first {
		return buf, nil
	}
	chunks := [][]byte{buf}
	for got := first; got < n; {
		c := make([]byte, min(n-got, bodyChunk))
		if _, err := io.ReadFull(r, c); err != nil {
			return nil, err
		}
		chunks = append(chunks, c)
		got += len(c)
	}
	body := make([]byte, 0, n)
	for i, c := range chunks {
		body = append(body, c...)
		chunks[i] = nil
	}
	return body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeFrame writes f with one writev where w is a net.Conn, so a frame is
// never interleaved with another writer's and the body is not copied.
func writeFrame(w io.Writer, f frame) error {
	if len(f.body) > maxFrameBytes-2 {
		return fmt.Errorf("%w: %d bytes of body, the limit is %d", ErrFrameTooLarge, len(f.body), maxFrameBytes-2)
	}
	var hdr [headerBytes]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(2+len(f.body)))
	hdr[4], hdr[5] = f.version, byte(f.typ)
	bufs := net.Buffers{hdr[:], f.body}
	_, err := bufs.WriteTo(w)
	return err
}
