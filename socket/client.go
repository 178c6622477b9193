package socket

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
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
//
// The agent closes connections left idle (ServeOptions.IdleTimeout). A
// Client made by Dial dials again, as an ssh-agent client would: a call
// that finds the connection closed before any answer arrived is sent again
// on a new connection when sending it twice does no harm (list, sign,
// sign-payload, status, attest, lock), and before any other call the
// Client looks whether the agent closed the connection, and dials again
// first. A Client made by NewClient cannot dial: its calls then fail.
type Client struct {
	dial   func() (net.Conn, error) // nil: cannot reconnect
	closed atomic.Bool

	connMu sync.Mutex // guards conn against Close
	conn   net.Conn

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
	c := NewClient(conn)
	c.dial = func() (net.Conn, error) {
		conn, err := net.DialTimeout("unix", path, dialTimeout)
		if err != nil {
			return nil, fmt.Errorf("socket: dial %s again: %w", path, err)
		}
		if err := checkServer(conn, path); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	return c, nil
}

// idempotent lists the requests a Client may send twice when the agent
// closed an idle connection under it: sending them again changes nothing
// but one more audit line. Unlock is not among them (a wrong PIN sent
// twice would cost two tries), nor are the ones that create objects.
var idempotent = map[msgType]bool{msgList: true, msgSign: true, msgSignPayload: true, msgStatus: true, msgAttest: true, msgLock: true}

// errAgentHungUp is an exchange that found the connection closed by the
// agent before a byte of the answer arrived.
var errAgentHungUp = errors.New("the agent closed the connection")

// reconnect replaces a connection the agent closed. c.mu must be held.
func (c *Client) reconnect() error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.closed.Load() {
		conn.Close()
		return ErrClosed
	}
	c.conn.Close()
	c.conn, c.r, c.broken = conn, bufio.NewReader(conn), nil
	return nil
}

func (c *Client) currentConn() net.Conn {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn
}

// Close closes the connection, interrupting a call in progress. That call
// and every later one fail with ErrClosed.
func (c *Client) Close() error {
	c.connMu.Lock()
	if c.closed.Swap(true) {
		c.connMu.Unlock()
		return nil
	}
	err := c.conn.Close()
	c.connMu.Unlock()
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

func (c *Client) SignPayload(ctx context.Context, req agent.PayloadRequest) (agent.PayloadSignature, error) {
	return roundTrip[agent.PayloadSignature](ctx, c, msgSignPayload, req)
}

// CertifyKey asks for (or stores) a format key's signing certificate
// chain. Not idempotent: a retry could store a second certificate.
func (c *Client) CertifyKey(ctx context.Context, req agent.CertifyKeyRequest) ([][]byte, error) {
	r, err := roundTrip[attestResponse](ctx, c, msgCertifyKey, req)
	return r.Chain, err
}

func (c *Client) Delete(ctx context.Context, req agent.DeleteRequest) error {
	_, err := roundTrip[none](ctx, c, msgDelete, req)
	return err
}

// signHead is the JSON of a sign request: agent.SignRequest without Data,
// which follows the JSON as raw bytes (PROTOCOL.md "Bulk bodies").
type signHead struct {
	KeyID string `json:"key_id"`
	GUN   string `json:"gun"`
	Role  string `json:"role"`
}

// payloadHead is the JSON of a sign-payload request: agent.PayloadRequest
// without Payload, which follows the JSON as raw bytes.
type payloadHead struct {
	KeyID  string `json:"key_id"`
	Format string `json:"format"`
}

// splitRequest returns the part of a request that goes as JSON and its
// bulk bytes (nil for a request without a bulk field).
func splitRequest(req any) (head any, bulk []byte) {
	switch r := req.(type) {
	case agent.SignRequest:
		return signHead{KeyID: r.KeyID, GUN: r.GUN, Role: r.Role}, r.Data
	case agent.PayloadRequest:
		return payloadHead{KeyID: r.KeyID, Format: r.Format}, r.Payload
	}
	return req, nil
}

// encodeRequest encodes a request of type typ as the body of its frame and
// the tail written after it: for a request with a bulk field (hasBulk), the
// JSON's length and the JSON, then the bulk bytes, which are the caller's
// (written with one writev, not copied).
func encodeRequest(typ msgType, req any) (body, tail []byte, err error) {
	head, bulk := splitRequest(req)
	switch head.(type) {
	case signHead, payloadHead: // strings only: no nil slice to turn into []
	default:
		head = noNulls(head)
	}
	if body, err = encodeBody(head); err != nil {
		return nil, nil, err
	}
	if hasBulk(typ) {
		return bulkBody(body), bulk, nil
	}
	if bulk != nil {
		return nil, nil, fmt.Errorf("a %T cannot be sent as a %s request", req, typ) // a bug here
	}
	return body, nil, nil
}

// roundTrip sends one request and reads its answer. Errors the agent
// returned come back as *RemoteError; the others break the connection.
func roundTrip[Resp any](ctx context.Context, c *Client, typ msgType, req any) (Resp, error) {
	var resp Resp
	body, bulk, err := encodeRequest(typ, req)
	if err != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}
	if typ == msgUnlock {
		defer clear(body) // the PIN, in base64
	}
	if n := len(body) + len(bulk); n > maxFrameBytes-2 { // refused here, the connection stays usable
		return resp, fmt.Errorf("socket: %s: %w: %d bytes of request, the limit is %d",
			typ, ErrFrameTooLarge, n, maxFrameBytes-2)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return resp, fmt.Errorf("socket: %s: %w", typ, ErrClosed)
	}
	// A request that may not be sent twice first looks whether the agent
	// closed the connection (one recvfrom); the others skip that system
	// call: on a closed connection their write or read fails as a hang-up
	// (errAgentHungUp), and they are sent again on a new connection below.
	if c.dial != nil && (c.broken == nil && !idempotent[typ] && peerClosed(c.currentConn()) || errors.Is(c.broken, errAgentHungUp)) {
		if err := c.reconnect(); err != nil {
			return resp, fmt.Errorf("socket: %s: the agent closed the idle connection: %w", typ, err)
		}
	}
	if c.broken != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return resp, fmt.Errorf("socket: %s: %w", typ, err)
	}
	f, err := c.send(ctx, typ, body, bulk)
	if errors.Is(err, errAgentHungUp) && c.dial != nil && idempotent[typ] && ctx.Err() == nil {
		// Closed as idle between the check above and the request: the
		// request was never read. Once more on a new connection.
		if rerr := c.reconnect(); rerr == nil {
			f, err = c.send(ctx, typ, body, bulk)
		}
	}
	if err != nil {
		return resp, err
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

// send makes one exchange on the current connection, breaking it on error.
// c.mu must be held.
func (c *Client) send(ctx context.Context, typ msgType, body, bulk []byte) (frame, error) {
	// A context that ends mid-exchange unblocks the read or write through
	// the deadline; the connection is then out of step and is dropped.
	conn := c.conn
	stop := func() bool { return true }
	if ctx.Done() != nil { // context.Background() never ends: nothing to arm
		stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	}
	f, err := c.exchange(frame{version: Version, typ: typ, body: body, tail: bulk})
	if !stop() {
		c.fail(fmt.Errorf("socket: connection dropped after a cancelled %s request", typ))
		if err != nil {
			return f, fmt.Errorf("socket: %s: %w", typ, ctx.Err())
		}
	}
	if err != nil {
		c.fail(err)
		if c.closed.Load() {
			err = ErrClosed
		}
		return f, fmt.Errorf("socket: %s: %w", typ, err)
	}
	return f, nil
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
		if errors.Is(werr, syscall.EPIPE) || errors.Is(werr, syscall.ECONNRESET) {
			werr = fmt.Errorf("%w: %w", errAgentHungUp, werr)
		}
		return frame{}, fmt.Errorf("write request: %w", werr)
	}
	f, err := readFrame(c.r, maxFrameBytes)
	if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		return frame{}, fmt.Errorf("read response: %w: %w", errAgentHungUp, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return frame{}, fmt.Errorf("read response: %w", err)
	}
	if f.version != Version {
		return frame{}, fmt.Errorf("%w: this client speaks protocol version %d, the agent version %d; "+
			"use the trust-agent, notation-trust-agent and sigstore-kms-trustagent of one release",
			ErrUnsupportedVersion, Version, f.version)
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

// noNulls returns a copy of the request v with nil []byte and slice fields
// made empty: encoding/json writes nil as null, which the agent refuses
// where a value is needed.
func noNulls(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Struct {
		return v
	}
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	fillNil(cp)
	return cp.Interface()
}

func fillNil(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Slice:
			if f.IsNil() {
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			}
		case reflect.Struct:
			fillNil(f)
		}
	}
}
