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
// every frame. See docs/PROTOCOL.md. Version 2 carries the bulk field of a
// request (hasBulk) as raw bytes after its JSON; version 1 carried it in
// base64 inside the JSON, and is refused with a message a version-1 client
// prints.
const Version = 2

// maxFrameBytes caps a frame's length field (version + type + body), in
// requests and in responses alike. TUF targets metadata of a big repository
// runs to megabytes; the bytes to sign travel raw after the request's JSON,
// so 16 MiB leaves room for nearly 16 MiB of signed data. Anything larger is
// refused from the 4-byte header alone, before a byte of body is read or
// allocated.
const maxFrameBytes = 16 << 20

// jsonLenBytes is the uint32 that starts the body of a request with a bulk
// field: the length of the JSON that follows it.
const jsonLenBytes = 4

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

// hasBulk reports the request types whose body is a JSON length, the JSON,
// then the request's bulk field as raw bytes (PROTOCOL.md "Bulk bodies"):
// sign (data) and sign-payload (payload). Every other body, responses and
// failures included, is JSON or empty.
func hasBulk(t msgType) bool { return t == msgSign || t == msgSignPayload }

// bulkBody is the body of a request with a bulk field, apart from the bulk
// bytes themselves: the JSON's length, then the JSON. The bulk is written
// after it (frame.tail), so it is never copied.
func bulkBody(js []byte) []byte {
	b := make([]byte, jsonLenBytes, jsonLenBytes+len(js))
	binary.BigEndian.PutUint32(b, uint32(len(js)))
	return append(b, js...)
}

// splitBulk splits the body of a request with a bulk field into its JSON
// and its bulk bytes, which alias body. The JSON length must fit the body
// exactly: what follows the JSON is the bulk field, all of it.
func splitBulk(body []byte) (js, bulk []byte, err error) {
	if len(body) < jsonLenBytes {
		return nil, nil, fmt.Errorf("the body is %d bytes, shorter than its 4-byte JSON length; a version-2 request with a bulk field is the JSON's length, the JSON, then the bulk bytes", len(body))
	}
	n := binary.BigEndian.Uint32(body)
	if uint64(n) > uint64(len(body)-jsonLenBytes) {
		hint := ""
		if body[0] == '{' {
			hint = " (the body starts with '{': a version-1 body, the bulk field in the JSON?)"
		}
		return nil, nil, fmt.Errorf("the JSON length %d is more than the %d bytes that follow it%s; a version-2 request with a bulk field is the JSON's length, the JSON, then the bulk bytes",
			n, len(body)-jsonLenBytes, hint)
	}
	return body[jsonLenBytes : jsonLenBytes+n], body[jsonLenBytes+n:], nil
}

// frame is one message on the wire. A frame read holds its whole body in
// body; a frame to write may put its last part in tail (the bulk bytes of a
// request), written after body without being copied.
type frame struct {
	version byte
	typ     msgType
	body    []byte
	tail    []byte
}

// readFrame reads one frame from r. It returns io.EOF only when r ends
// cleanly between frames. A length field over limit is refused with
// ErrFrameTooLarge before any of the body is read; a length below 2 or a
// stream that ends inside a frame gives ErrMalformedFrame. The version is not
// checked here: the length field means the same in every version, so the
// caller can skip a frame it does not understand and keep the stream in step.
func readFrame(r io.Reader, limit uint32) (frame, error) {
	f, _, err := readFrameBudget(r, limit, nil, nil)
	return f, err
}

// readFrameBudget is readFrame for a server with a memory budget: once the
// header is read, a body over smallBody bytes is read only after acquire(n)
// granted its n bytes; the returned release gives them back (call it once,
// when nothing uses the body any more: after the reply is written; it is
// never nil). An acquire error is returned as it is, with the body left
// unread. A nil acquire grants everything.
//
// With a pool, the body of a sign or sign-payload over smallBody bytes is
// read into a buffer from the pool (pool.go), and release gives the buffer
// back to it: what aliases the body (SignRequest.Data) must not be used
// after release. Such a body is budgeted at its buffer's capacity
// (bodyClass), so the budget counts every pooled byte in use.
func readFrameBudget(r io.Reader, limit uint32, acquire func(n int) (release func(), err error), pool *bodyPool) (frame, func(), error) {
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
	typ := msgType(hdr[5])
	release := none
	pooled := false
	if size := int(n - 2); size > smallBody && acquire != nil {
		pooled = pool != nil && hasBulk(typ)
		charge := size
		if pooled {
			charge = bodyClass(size)
		}
		var err error
		if release, err = acquire(charge); err != nil {
			return frame{}, none, err
		}
	}
	// A budgeted body is read whole into one buffer: the budget already
	// counts its bytes (so stalled big frames hold at most the budget),
	// and reading into one buffer leaves nothing to copy: the bulk bytes
	// reach the agent in place.
	var body []byte
	var err error
	if pooled {
		buf := pool.get(int(n - 2))
		budget := release
		release = func() {
			if buf != nil {
				pool.put(buf)
				buf = nil
			}
			budget()
		}
		body = buf[: n-2 : n-2]
		_, err = io.ReadFull(r, body)
	} else {
		body, err = readBody(r, int(n-2), acquire != nil && int(n-2) > smallBody)
	}
	if err != nil {
		release()
		return frame{}, none, fmt.Errorf("%w: body: %w", ErrMalformedFrame, noEOF(err))
	}
	return frame{version: hdr[4], typ: typ, body: body}, release, nil
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
// (at most bodyChunk ahead of it), or, when whole (the bytes are budgeted),
// into one buffer of n bytes.
func readBody(r io.Reader, n int, whole bool) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if whole {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
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

// writeFrame writes f (header, body, tail) with one writev where w is a
// net.Conn, so a frame is never interleaved with another writer's and
// neither body nor tail is copied.
func writeFrame(w io.Writer, f frame) error {
	if n := len(f.body) + len(f.tail); n > maxFrameBytes-2 {
		return fmt.Errorf("%w: %d bytes of body, the limit is %d", ErrFrameTooLarge, n, maxFrameBytes-2)
	}
	var hdr [headerBytes]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(2+len(f.body)+len(f.tail)))
	hdr[4], hdr[5] = f.version, byte(f.typ)
	bufs := net.Buffers{hdr[:], f.body}
	if len(f.tail) > 0 {
		bufs = append(bufs, f.tail)
	}
	_, err := bufs.WriteTo(w)
	return err
}
