package hostile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Message types, from docs/PROTOCOL.md "Message types". Requests are below
// 0x80; a success has the request's type with the high bit set; a failure
// is 0xFF.
const (
	TypeList        byte = 0x01
	TypeSign        byte = 0x02
	TypeCertifyRoot byte = 0x03
	TypeGenerate    byte = 0x04
	TypeImport      byte = 0x05
	TypeLock        byte = 0x06
	TypeUnlock      byte = 0x07
	TypeStatus      byte = 0x08
	TypeAttest      byte = 0x09
	TypeDelete      byte = 0x0A
	TypeSignPayload byte = 0x0B
	TypeCertifyKey  byte = 0x0C
	TypeFailure     byte = 0xFF
	successBit      byte = 0x80
)

// Version is the protocol version PROTOCOL.md describes.
const Version byte = 2

// MaxFrameBytes is the length field's limit from PROTOCOL.md "Frames": 16 MiB.
const MaxFrameBytes = 16 << 20

// maxReplyBytes caps what this client reads of a reply, as PROTOCOL.md
// says both sides must.
const maxReplyBytes = MaxFrameBytes

// replyTimeout bounds how long the client waits for one reply: an agent
// that does not answer is a finding, not a reason to hang.
const replyTimeout = 30 * time.Second

// Error codes from PROTOCOL.md "Error codes".
const (
	CodeInternal           = 0
	CodeNotFound           = 1
	CodeDenied             = 2
	CodeLocked             = 3
	CodePINIncorrect       = 4
	CodePINBlocked         = 5
	CodeDeviceUnavailable  = 6
	CodeInvalidRequest     = 7
	CodeUnsupportedVersion = 8
	CodeUnknownMessageType = 9
)

// Conn is one raw connection to an agent. It speaks the wire of
// docs/PROTOCOL.md byte by byte and checks nothing the document does not
// make it check: it is the client a hostile local process would write.
// A Conn is not safe for concurrent use.
type Conn struct {
	c net.Conn
}

// Dial connects to the agent's socket at path.
func Dial(path string) (*Conn, error) {
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("hostile: dial %s: %w", path, err)
	}
	return &Conn{c: c}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Raw is the underlying connection, for attacks that write bytes by hand.
func (c *Conn) Raw() net.Conn { return c.c }

// Frame encodes one frame: the length (2 + len(body)), version, type, body.
func Frame(version, typ byte, body []byte) []byte {
	b := make([]byte, 6, 6+len(body))
	binary.BigEndian.PutUint32(b, uint32(2+len(body)))
	b[4], b[5] = version, typ
	return append(b, body...)
}

// BulkBody is the body of a request with a bulk field (sign, sign-payload),
// from PROTOCOL.md "Bulk bodies": the JSON's length (uint32, big-endian),
// the JSON, then the bulk bytes as they are.
func BulkBody(json, bulk []byte) []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(json)+len(bulk)), uint32(len(json)))
	return append(append(b, json...), bulk...)
}

// Send writes one frame of this Version.
func (c *Conn) Send(typ byte, body []byte) error {
	return c.Write(Frame(Version, typ, body))
}

// Write writes raw bytes.
func (c *Conn) Write(b []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, err := c.c.Write(b)
	if err != nil {
		return fmt.Errorf("hostile: write: %w", err)
	}
	return nil
}

// Reply is one frame from the agent, with the failure body decoded.
type Reply struct {
	Version byte
	Type    byte
	Body    []byte
	// For a failure (Type 0xFF): the fields of the failure body.
	Code    int
	Message string
	Retries *int
	Reason  string
}

// OK reports whether r is the success answer to a request of type typ.
func (r Reply) OK(typ byte) bool { return r.Type != TypeFailure && r.Type == typ|successBit }

// Failed reports whether r is a failure.
func (r Reply) Failed() bool { return r.Type == TypeFailure }

func (r Reply) String() string {
	if r.Failed() {
		return fmt.Sprintf("code %d: %s", r.Code, r.Message)
	}
	return fmt.Sprintf("type 0x%02x, %d bytes", r.Type, len(r.Body))
}

// Recv reads one frame.
func (c *Conn) Recv() (Reply, error) {
	c.c.SetReadDeadline(time.Now().Add(replyTimeout))
	return readReply(c.c)
}

func readReply(r io.Reader) (Reply, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return Reply{}, fmt.Errorf("hostile: read reply: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 2 || n > maxReplyBytes {
		return Reply{}, fmt.Errorf("hostile: reply length %d is outside 2..%d", n, maxReplyBytes)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return Reply{}, fmt.Errorf("hostile: read reply header: %w", err)
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(r, body); err != nil {
		return Reply{}, fmt.Errorf("hostile: read reply body: %w", err)
	}
	rep := Reply{Version: hdr[4], Type: hdr[5], Body: body}
	if rep.Type == TypeFailure {
		var f struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Retries *int   `json:"retries"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(body, &f); err != nil {
			return rep, fmt.Errorf("hostile: failure body %q: %w", body, err)
		}
		rep.Code, rep.Message, rep.Retries, rep.Reason = f.Code, f.Message, f.Retries, f.Reason
	}
	return rep, nil
}

// Do sends one request and reads its answer.
func (c *Conn) Do(typ byte, body []byte) (Reply, error) {
	if err := c.Send(typ, body); err != nil {
		return Reply{}, err
	}
	return c.Recv()
}

// DoJSON sends v encoded as JSON and decodes a success body into out
// (when out is not nil). A failure reply is returned as *FailureError.
func (c *Conn) DoJSON(typ byte, v, out any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("hostile: encode request: %w", err)
		}
	}
	rep, err := c.Do(typ, body)
	if err != nil {
		return err
	}
	if rep.Failed() {
		return &FailureError{Reply: rep}
	}
	if !rep.OK(typ) {
		return fmt.Errorf("hostile: request 0x%02x answered with type 0x%02x", typ, rep.Type)
	}
	if out != nil {
		if err := json.Unmarshal(rep.Body, out); err != nil {
			return fmt.Errorf("hostile: decode reply: %w", err)
		}
	}
	return nil
}

// FailureError is a failure frame as an error.
type FailureError struct{ Reply Reply }

func (e *FailureError) Error() string {
	return fmt.Sprintf("hostile: agent refused: code %d: %s", e.Reply.Code, e.Reply.Message)
}

// ErrClosed means the agent closed the connection.
var ErrClosed = errors.New("hostile: the agent closed the connection")

// WaitClosed reads until the agent closes the connection or max passes.
// It returns nil when the agent closed it (EOF or a reset), and an error
// saying the connection is still open otherwise. Frames the agent sends
// meanwhile (a failure before closing) are read and dropped.
func (c *Conn) WaitClosed(max time.Duration) error {
	c.c.SetReadDeadline(time.Now().Add(max))
	buf := make([]byte, 4096)
	for {
		_, err := c.c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("hostile: the connection was still open after %s", max)
		}
		return nil
	}
}
