package socket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// ServeAgent reads requests from c, hands them to a and writes the answers
// back, one request at a time, until c reaches EOF (it then returns nil),
// a frame cannot be read (it answers with CodeInvalidRequest when it still
// can and returns the error), or ctx is done. It does not close c.
//
// Every call on a gets a context derived from ctx: put the caller's identity
// there with agent.WithPeer before calling ServeAgent (Serve does) so the
// agent's audit log can name it. When c has a SetReadDeadline method (any
// net.Conn), cancelling ctx interrupts a read that is waiting for a request.
//
// When a implements agent.RefusalRecorder, every request refused before one
// of a's methods ran (a frame that cannot be read, an unknown type, another
// version, a body that does not decode) is reported to it, with the message
// type's name as op ("sign", ...) or "frame" when there is none.
//
// ServeAgent enforces no timeouts and no memory budget: Serve does, with
// ServeOptions. Serve connections from a listener with Serve.
func ServeAgent(ctx context.Context, a agent.Agent, c io.ReadWriter) error {
	return serve(ctx, a, c, nil)
}

// connLimits are what Serve enforces on one connection.
type connLimits struct {
	opts   *ServeOptions // normalised
	budget *byteBudget
	pool   *bodyPool
	tc     *trackedConn
}

type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// errIdle ends a connection that sent nothing for ServeOptions.IdleTimeout.
var errIdle = errors.New("socket: idle connection closed")

// ErrFrameTimeout is why a connection was closed whose frame did not arrive
// whole within ServeOptions.FrameTimeout of its first byte.
var ErrFrameTimeout = errors.New("socket: frame timed out")

func serve(ctx context.Context, a agent.Agent, c io.ReadWriter, lim *connLimits) error {
	dl, _ := c.(deadliner)
	if dl != nil {
		stop := context.AfterFunc(ctx, func() { dl.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if dl == nil {
		lim = nil // nothing to enforce timeouts with
	}
	refuse := func(op string, err error) {
		if rec, ok := a.(agent.RefusalRecorder); ok {
			rec.RecordRefused(ctx, op, err)
		}
	}
	// setRead sets a read deadline and then looks at ctx: a cancel that
	// came first would otherwise be undone by the new deadline.
	setRead := func(d time.Duration) error {
		dl.SetReadDeadline(time.Now().Add(d))
		return ctx.Err()
	}
	r := bufio.NewReader(c)
	for {
		var acquire func(int) (func(), error)
		var pool *bodyPool
		if lim != nil {
			pool = lim.pool
			if !lim.tc.setIdle() {
				return nil // evicted: the connection is closed
			}
			if err := setRead(lim.opts.IdleTimeout); err != nil {
				return err
			}
			if _, err := r.Peek(1); err != nil {
				switch {
				case ctx.Err() != nil:
					return ctx.Err()
				case err == io.EOF, lim.tc.wasEvicted():
					return nil
				case errors.Is(err, os.ErrDeadlineExceeded):
					return errIdle
				}
				return fmt.Errorf("socket: read request: %w", err)
			}
			if !lim.tc.setBusy() {
				return nil
			}
			// The frame deadline matters only to reads that may wait:
			// a frame whose every byte came with its first read (any
			// small request sent at once) is read from the buffer.
			if !frameBuffered(r) {
				if err := setRead(lim.opts.FrameTimeout); err != nil {
					return err
				}
			}
			acquire = func(n int) (func(), error) {
				return lim.budget.acquire(ctx, n, lim.opts.BudgetWait)
			}
		}
		f, release, err := readFrameBudget(r, maxFrameBytes, acquire, pool)
		if ctx.Err() != nil {
			release()
			return ctx.Err()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if lim != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: it did not arrive whole within %s of its first byte (%w); send frames at once",
					ErrFrameTimeout, lim.opts.FrameTimeout, err)
			}
			refuse("frame", err)
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformedFrame) ||
				errors.Is(err, ErrAgentBusy) || errors.Is(err, ErrFrameTimeout) {
				// Best effort: the peer may be gone, or (when the body
				// was not read) get a reset instead of this answer.
				if dl != nil {
					dl.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
				}
				_ = writeFrame(c, failure(failureBody{Code: CodeInvalidRequest, Message: err.Error()}))
			}
			return fmt.Errorf("socket: read request: %w", err)
		}
		resp := handle(ctx, a, f, refuse)
		if f.typ == msgUnlock {
			clear(f.body) // the PIN, in base64
		}
		f.body = nil
		if lim != nil {
			dl.SetWriteDeadline(time.Now().Add(lim.opts.FrameTimeout))
		}
		err = writeFrame(c, resp)
		// Only now may the body's buffer serve another request (pool.go):
		// the agent's method has returned and its reply is on the wire.
		release()
		if err != nil {
			return fmt.Errorf("socket: write %s response: %w", f.typ, err)
		}
	}
}

// frameBuffered reports whether r's buffer holds a whole frame: its
// length field and all the bytes it announces.
func frameBuffered(r *bufio.Reader) bool {
	if r.Buffered() < 4 {
		return false
	}
	hdr, _ := r.Peek(4) // buffered: no read
	return uint64(r.Buffered()) >= 4+uint64(binary.BigEndian.Uint32(hdr))
}

// handle answers one well-framed request. A wrong version or an unknown
// type is answered with a failure and the connection goes on: the length
// field kept the stream in step. Those refusals, and bodies that do not
// decode, go to refuse with the op they are recorded under.
//
// A request of version 1 is answered in version 1 (its failure frame is the
// same in both versions), so that a version-1 client prints the reason;
// any other version is answered in this one.
func handle(ctx context.Context, a agent.Agent, f frame, refuse func(op string, err error)) frame {
	op := "frame"
	if _, ok := msgNames[f.typ]; ok && f.typ < msgSuccess {
		op = f.typ.String()
	}
	if f.version != Version {
		err := fmt.Errorf("%w: this agent speaks protocol version %d, the client version %d; "+
			"use the trust-agent, notation-trust-agent and sigstore-kms-trustagent of one release",
			ErrUnsupportedVersion, Version, f.version)
		refuse(op, err)
		resp := failure(encodeError(err))
		if f.version == 1 {
			resp.version = 1
		}
		return resp
	}
	body, err := dispatch(ctx, a, f.typ, f.body)
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) || errors.Is(err, ErrUnknownMessageType) {
			refuse(op, err)
		}
		return failure(encodeError(err))
	}
	return frame{version: Version, typ: f.typ | msgSuccess, body: body}
}

func failure(b failureBody) frame {
	body, err := json.Marshal(b)
	if err != nil { // cannot happen: strings and ints only
		panic(err)
	}
	return frame{version: Version, typ: msgFailure, body: body}
}

// none is the request or response of the messages without a body.
type none struct{}

// certifyResponse is the body of a certify-root success.
type certifyResponse struct {
	DER []byte `json:"der"`
}

// attestResponse is the body of an attest success: DER certificates, leaf
// first.
type attestResponse struct {
	Chain [][]byte `json:"chain"`
}

func dispatch(ctx context.Context, a agent.Agent, typ msgType, body []byte) ([]byte, error) {
	switch typ {
	case msgList:
		return call(typ, body, func(none) ([]agent.KeyInfo, error) { return a.List(ctx) })
	case msgSign:
		return call(typ, body, func(r agent.SignRequest) (agent.Signature, error) { return a.Sign(ctx, r) })
	case msgCertifyRoot:
		return call(typ, body, func(r agent.CertifyRequest) (certifyResponse, error) {
			der, err := a.CertifyRoot(ctx, r)
			return certifyResponse{DER: der}, err
		})
	case msgGenerate:
		return call(typ, body, func(r agent.GenerateRequest) (agent.KeyInfo, error) { return a.Generate(ctx, r) })
	case msgImport:
		return call(typ, body, func(r agent.ImportRequest) (agent.KeyInfo, error) { return a.Import(ctx, r) })
	case msgLock:
		return call(typ, body, func(none) (none, error) { return none{}, a.Lock(ctx) })
	case msgUnlock:
		return call(typ, body, func(r agent.UnlockRequest) (none, error) { return none{}, a.Unlock(ctx, r) })
	case msgStatus:
		return call(typ, body, func(none) (agent.Status, error) { return a.Status(ctx) })
	case msgSignPayload:
		return call(typ, body, func(r agent.PayloadRequest) (agent.PayloadSignature, error) { return a.SignPayload(ctx, r) })
	case msgCertifyKey:
		return call(typ, body, func(r agent.CertifyKeyRequest) (attestResponse, error) {
			chain, err := a.CertifyKey(ctx, r)
			return attestResponse{Chain: chain}, err
		})
	case msgDelete:
		return call(typ, body, func(r agent.DeleteRequest) (none, error) { return none{}, a.Delete(ctx, r) })
	case msgAttest:
		return call(typ, body, func(r agent.AttestRequest) (attestResponse, error) {
			chain, err := a.Attest(ctx, r)
			return attestResponse{Chain: chain}, err
		})
	}
	return nil, fmt.Errorf("%w 0x%02x; PROTOCOL.md lists the request types", ErrUnknownMessageType, byte(typ))
}

// bodyError is a request body that did not decode: the request was
// refused before the agent saw it.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// call decodes a request body strictly (decodeRequest, checkStrict: exact
// field names, no duplicates, no null, canonical base64; and, as
// encoding/json is told, no unknown fields, nothing after the value: a field
// this agent does not know might be a constraint the client expects it to
// enforce), runs fn and encodes its answer.
func call[Req, Resp any](typ msgType, body []byte, fn func(Req) (Resp, error)) ([]byte, error) {
	var req Req
	if err := decodeRequest(typ, body, &req); err != nil {
		return nil, &bodyError{fmt.Errorf("%w: socket: %s request: %w", agent.ErrInvalidRequest, typ, err)}
	}
	resp, err := fn(req)
	if err != nil {
		return nil, err
	}
	return encodeBody(resp)
}

// decodeRequest decodes the body of a request of type typ into v, a
// pointer to its Go type. For a request with a bulk field (hasBulk) the
// body is the JSON's length, the JSON, then the bulk bytes: the JSON is
// decoded strictly and must not carry the bulk field, and the field gets
// the bulk bytes where they lie in the frame's buffer, not copied. Under
// Serve that buffer is pooled (pool.go): once the answer is written it
// serves the next big request, so an agent method must not keep the bytes
// (or a slice or an unsafe string of them) after it returns.
func decodeRequest(typ msgType, body []byte, v any) error {
	var name string
	var dst *[]byte
	switch r := v.(type) {
	case *agent.SignRequest:
		name, dst = "data", &r.Data
	case *agent.PayloadRequest:
		name, dst = "payload", &r.Payload
	}
	if !hasBulk(typ) {
		return decodeStrict(body, v, "")
	}
	if dst == nil {
		return fmt.Errorf("socket cannot decode a %T with a bulk field", v) // a bug here
	}
	js, tail, err := splitBulk(body)
	if err != nil {
		return err
	}
	if err := decodeStrict(js, v, name); err != nil {
		return err
	}
	*dst = tail
	return nil
}

// decodeStrict decodes a request's JSON strictly into v. A field named
// bulk (when not empty) is refused: it travels after the JSON.
func decodeStrict(body []byte, v any, bulk string) error {
	if _, ok := v.(*none); ok {
		if len(body) != 0 {
			return errors.New("this request takes no body; send an empty one")
		}
		return nil
	}
	if len(body) == 0 {
		return errors.New("empty body; this request needs a JSON object")
	}
	if err := checkStrict(body, v, bulk); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func encodeBody(v any) ([]byte, error) {
	if _, ok := v.(none); ok {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("socket: encode: %w", err)
	}
	return b, nil
}
