package socket

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// Client is an agent.Agent that forwards every call to an agent over a
// connection.
//
// A Client is safe for concurrent use: each request and its response hold a
// mutex, so calls run one at a time. A call whose context ends while it waits
// for the answer returns at once and breaks the connection (the answer would
// arrive later, out of step); so does any I/O or framing error. After that
// every call fails: dial again.
type Client struct {
	conn   net.Conn
	closed atomic.Bool

	mu     sync.Mutex // held for a whole request and response
	r      *bufio.Reader
	broken error // why the connection can no longer be used
}

var _ agent.Agent = (*Client)(nil)

// ErrClosed is returned by calls on a Client that was closed.
var ErrClosed = errors.New("socket: client closed")

// NewClient returns a Client speaking over conn. The Client owns conn.
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, r: bufio.NewReader(conn)}
}

// dialTimeout bounds connecting to the agent: a connect to a Unix socket
// waits only when the agent's accept queue is full, i.e. it is stuck.
const dialTimeout = 10 * time.Second

// Dial connects to the agent listening on the Unix socket at path.
//
// Before anything is sent, on Linux, it reads the listening process's
// credentials (SO_PEERCRED) and refuses an agent running as another user
// than the caller, root aside, with a *ForeignAgentError (errors.Is
// ErrForeignAgent): PINs and private keys go over this socket.
func Dial(path string) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("socket: dial %s: %w", path, err)
	}
	if err := checkServer(conn, path); err != nil {
		conn.Close()
		return nil, err
	}
	return NewClient(conn), nil
}

// Close closes the connection, interrupting a call in progress. That call
// and every later one fail with ErrClosed.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.conn.Close()
	c.mu.Lock()
	c.broken = ErrClosed
	c.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("socket: close: %w", err)
	}
	return nil
}

func (c *Client) List(ctx context.Context) ([]agent.KeyInfo, error) {
	return roundTrip[[]agent.KeyInfo](ctx, c, msgList, none{})
}

func (c *Client) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	return roundTrip[agent.Signature](ctx, c, msgSign, req)
}

func (c *Client) CertifyRoot(ctx context.Context, req agent.CertifyRequest) ([]byte, error) {
	r, err := roundTrip[certifyResponse](ctx, c, msgCertifyRoot, req)
	return r.DER, err
}

func (c *Client) Generate(ctx context.Context, req agent.GenerateRequest) (agent.KeyInfo, error) {
	return roundTrip[agent.KeyInfo](ctx, c, msgGenerate, req)
}

func (c *Client) Import(ctx context.Context, req agent.ImportRequest) (agent.KeyInfo, error) {
	return roundTrip[agent.KeyInfo](ctx, c, msgImport, req)
}

func (c *Client) Lock(ctx context.Context) error {
	_, err := roundTrip[none](ctx, c, msgLock, none{})
	return err
}

func (c *Client) Unlock(ctx context.Context, req agent.UnlockRequest) error {
	_, err := roundTrip[none](ctx, c, msgUnlock, req)
	return err
}

func (c *Client) Status(ctx context.Context) (agent.Status, error) {
	return roundTrip[agent.Status](ctx, c, msgStatus, none{})
}

func (c *Client) Attest(ctx context.Context, req agent.AttestRequest) ([][]byte, error) {
	r, err := roundTrip[attestResponse](ctx, c, msgAttest, req)
	return r.Chain, err
}

func (c *Client) Delete(ctx context.Context, req agent.DeleteRequest) error {
	_, err := roundTrip[none](ctx, c, msgDelete, req)
	return err
}

// roundTrip sends one request and reads its answer. Errors the agent
// returned come back as *RemoteError; the others break the connection.
func roundTrip[Resp any](ctx context.Context, c *Client, typ msgType, req any) (Resp, error) {
	var resp Resp
	body, err := encodeBody(req)
	if err != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}
	if typ == msgUnlock {
		defer clear(body) // the PIN, in base64
	}
	if len(body) > maxFrameBytes-2 { // refused here, the connection stays usable
		return resp, fmt.Errorf("socket: %s: %w: %d bytes of request, the limit is %d",
			typ, ErrFrameTooLarge, len(body), maxFrameBytes-2)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}
	// A context that ends mid-exchange unblocks the read or write through
	// the deadline; the connection is then out of step and is dropped.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	f, err := c.exchange(frame{version: Version, typ: typ, body: body})
	if !stop() {
		c.fail(fmt.Errorf("socket: connection dropped after a cancelled %s request", typ))
		if err != nil {
			return resp, fmt.Errorf("socket: %s: %w", typ, ctx.Err())
		}
	}
	if err != nil {
		c.fail(err)
		if c.closed.Load() {
			err = ErrClosed
		}
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}

	switch {
	case f.typ == msgFailure:
		var fb failureBody
		if err := json.Unmarshal(f.body, &fb); err != nil {
			return resp, fmt.Errorf("socket: %s: the agent failed, and its failure does not decode: %w", typ, err)
		}
		return resp, decodeError(fb)
	case f.typ != typ|msgSuccess:
		err := fmt.Errorf("%w: %s response to a %s request", ErrMalformedFrame, f.typ, typ)
		c.fail(err)
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}
	if _, ok := any(resp).(none); ok {
		if len(f.body) != 0 {
			return resp, fmt.Errorf("socket: %s: unexpected response body", typ)
		}
		return resp, nil
	}
	// Lenient on purpose: a newer agent may add fields (to Status, say).
	if err := json.Unmarshal(f.body, &resp); err != nil {
		return resp, fmt.Errorf("socket: %s: decode response: %w", typ, err)
	}
	return resp, nil
}

// exchange writes req and reads one response, refusing a response over
// maxFrameBytes before reading its body, and any version but ours.
// c.mu must be held.
func (c *Client) exchange(req frame) (frame, error) {
	if werr := writeFrame(c.conn, req); werr != nil {
		// The agent may have answered and hung up before reading the
		// request (a refused peer does): prefer its reason.
		if f, err := readFrame(c.r, maxFrameBytes); err == nil && f.version == Version && f.typ == msgFailure {
			c.fail(werr)
			return f, nil
		}
		return frame{}, fmt.Errorf("write request: %w", werr)
	}
	f, err := readFrame(c.r, maxFrameBytes)
	if err == io.EOF {
		return frame{}, fmt.Errorf("read response: the agent closed the connection: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return frame{}, fmt.Errorf("read response: %w", err)
	}
	if f.version != Version {
		return frame{}, fmt.Errorf("%w %d in the response, this client speaks %d", ErrUnsupportedVersion, f.version, Version)
	}
	return f, nil
}

// fail marks the connection unusable and closes it. c.mu must be held.
func (c *Client) fail(err error) {
	if c.broken == nil {
		c.broken = fmt.Errorf("connection broken by an earlier error: %w", err)
		c.conn.Close()
	}
}
