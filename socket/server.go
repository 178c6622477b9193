package socket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
func ServeAgent(ctx context.Context, a agent.Agent, c io.ReadWriter) error {
	if d, ok := c.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	r := bufio.NewReader(c)
	for {
		f, err := readFrame(r, maxFrameBytes)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformedFrame) {
				// Best effort: the peer may be gone, or (when the body
				// was not read) get a reset instead of this answer.
				_ = writeFrame(c, failure(failureBody{Code: CodeInvalidRequest, Message: err.Error()}))
			}
			return fmt.Errorf("socket: read request: %w", err)
		}
		resp := handle(ctx, a, f)
		if f.typ == msgUnlock {
			clear(f.body) // the PIN, in base64
		}
		if err := writeFrame(c, resp); err != nil {
			return fmt.Errorf("socket: write %s response: %w", f.typ, err)
		}
	}
}

// handle answers one well-framed request. A wrong version or an unknown
// type is answered with a failure and the connection goes on: the length
// field kept the stream in step.
func handle(ctx context.Context, a agent.Agent, f frame) frame {
	if f.version != Version {
		return failure(failureBody{Code: CodeUnsupportedVersion,
			Message: fmt.Sprintf("socket: unsupported protocol version %d, the agent speaks %d", f.version, Version)})
	}
	body, err := dispatch(ctx, a, f.typ, f.body)
	if err != nil {
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
	case msgDelete:
		return call(typ, body, func(r agent.DeleteRequest) (none, error) { return none{}, a.Delete(ctx, r) })
	case msgAttest:
		return call(typ, body, func(r agent.AttestRequest) (attestResponse, error) {
			chain, err := a.Attest(ctx, r)
			return attestResponse{Chain: chain}, err
		})
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrUnknownMessageType, byte(typ))
}

// call decodes a request body strictly (no unknown fields, nothing after the
// value: a field this agent does not know might be a constraint the client
// expects it to enforce), runs fn and encodes its answer.
func call[Req, Resp any](typ msgType, body []byte, fn func(Req) (Resp, error)) ([]byte, error) {
	var req Req
	if err := decodeStrict(body, &req); err != nil {
		return nil, fmt.Errorf("%w: socket: %s request: %w", agent.ErrInvalidRequest, typ, err)
	}
	resp, err := fn(req)
	if err != nil {
		return nil, err
	}
	return encodeBody(resp)
}

func decodeStrict(body []byte, v any) error {
	if _, ok := v.(*none); ok {
		if len(body) != 0 {
			return errors.New("unexpected body")
		}
		return nil
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
