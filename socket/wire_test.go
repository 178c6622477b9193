package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// Every method gives over the socket what it gives called directly.
func TestRoundTripEveryMessage(t *testing.T) {
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)
	ctx := context.Background()
	meta := agent.KeyMeta{Role: agent.RoleDelegation, Name: "alice"}
	tests := []struct {
		name string
		call func(a agent.Agent) (any, error)
	}{
		{"list", func(a agent.Agent) (any, error) { return a.List(ctx) }},
		{"sign", func(a agent.Agent) (any, error) {
			return a.Sign(ctx, agent.SignRequest{KeyID: "aa", GUN: "docker.io/x/y", Role: "targets/releases",
				Data: []byte(`{"_type":"Targets","signed":"\u0000\xff"}`)})
		}},
		{"sign empty data", func(a agent.Agent) (any, error) { return a.Sign(ctx, agent.SignRequest{KeyID: "aa"}) }},
		{"certify-root", func(a agent.Agent) (any, error) {
			return a.CertifyRoot(ctx, agent.CertifyRequest{KeyID: "aa", GUN: "docker.io/x/y",
				NotBefore: fakeTime, NotAfter: fakeTime.AddDate(10, 0, 0)})
		}},
		{"generate", func(a agent.Agent) (any, error) {
			return a.Generate(ctx, agent.GenerateRequest{KeyMeta: meta, Algorithm: agent.AlgorithmRSA, Bits: 4096, Backend: "b"})
		}},
		{"import", func(a agent.Agent) (any, error) {
			return a.Import(ctx, agent.ImportRequest{KeyMeta: meta, PKCS8: []byte{0x30, 0x82, 0, 1}, Backend: "b"})
		}},
		{"lock", func(a agent.Agent) (any, error) { return nil, a.Lock(ctx) }},
		{"unlock", func(a agent.Agent) (any, error) {
			return nil, a.Unlock(ctx, agent.UnlockRequest{Backend: "b", PIN: []byte("123456")})
		}},
		{"unlock wrong PIN", func(a agent.Agent) (any, error) {
			err := a.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")})
			var pe *agent.PINError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("not a PINError: %v", err)
			}
			return pe.Retries, nil
		}},
		{"status", func(a agent.Agent) (any, error) { return a.Status(ctx) }},
		{"attest", func(a agent.Agent) (any, error) { return a.Attest(ctx, agent.AttestRequest{KeyID: "aa"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.call(fake)
			if err != nil {
				t.Fatalf("direct: %v", err)
			}
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("socket: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("socket gave\n%#v\ndirect gave\n%#v", got, want)
			}
		})
	}
}

// Every error the agent can return reaches the client with the same text,
// the same errors.Is answers and the same typed errors.
func TestErrorsAcrossTheWire(t *testing.T) {
	sentinels := []error{agent.ErrNotFound, agent.ErrDenied, agent.ErrLocked, agent.ErrPINIncorrect,
		agent.ErrPINBlocked, agent.ErrDeviceUnavailable, agent.ErrInvalidRequest, ErrUnsupportedVersion,
		ErrUnknownMessageType}
	tests := []struct {
		err  error
		code Code
	}{
		{agent.ErrNotFound, CodeNotFound},
		{fmt.Errorf("agent: key aa: %w", agent.ErrNotFound), CodeNotFound},
		{agent.ErrDenied, CodeDenied},
		{&agent.DeniedError{Reason: "key is bound to docker.io/a/b"}, CodeDenied},
		{&agent.DeniedError{}, CodeDenied},
		{fmt.Errorf("agent: sign: %w", &agent.DeniedError{Reason: "role"}), CodeDenied},
		{agent.ErrLocked, CodeLocked},
		{agent.ErrPINIncorrect, CodePINIncorrect},
		{&agent.PINError{Retries: 3}, CodePINIncorrect},
		{&agent.PINError{Retries: 1}, CodePINIncorrect},
		{&agent.PINError{Retries: -1}, CodePINIncorrect},
		{fmt.Errorf("pkcs11: login: %w", &agent.PINError{Retries: 2}), CodePINIncorrect},
		{&agent.PINError{Retries: 0}, CodePINBlocked},
		{agent.ErrPINBlocked, CodePINBlocked},
		{fmt.Errorf("pkcs11: token gone: %w", agent.ErrDeviceUnavailable), CodeDeviceUnavailable},
		{agent.ErrInvalidRequest, CodeInvalidRequest},
		{ErrUnsupportedVersion, CodeUnsupportedVersion},
		{ErrUnknownMessageType, CodeUnknownMessageType},
		{errors.New("pkcs11: CKR_GENERAL_ERROR"), CodeInternal},
	}
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			if got := encodeError(tt.err).Code; got != tt.code {
				t.Fatalf("code %v, want %v", got, tt.code)
			}
			fake.mu.Lock()
			fake.err = tt.err
			fake.mu.Unlock()
			_, got := c.Sign(context.Background(), agent.SignRequest{KeyID: "aa"})
			if got == nil {
				t.Fatal("no error")
			}
			if got.Error() != tt.err.Error() {
				t.Errorf("message %q, want %q", got, tt.err)
			}
			var re *RemoteError
			if !errors.As(got, &re) || re.Code != tt.code {
				t.Errorf("not a RemoteError with code %v: %#v", tt.code, got)
			}
			for _, s := range sentinels {
				if g, w := errors.Is(got, s), errors.Is(tt.err, s); g != w {
					t.Errorf("errors.Is(err, %q) = %v, want %v", s, g, w)
				}
			}
			var gp, wp *agent.PINError
			if g, w := errors.As(got, &gp), errors.As(tt.err, &wp); tt.code == CodePINIncorrect && (!w || wp.Retries < 0) {
				// Unknown tries are not sent (no -1 on the wire): the
				// client rebuilds a *PINError with Retries -1.
				if !g || gp.Retries != -1 {
					t.Errorf("errors.As PINError with unknown tries: %v %+v, want Retries -1", g, gp)
				}
			} else if g != w || (g && gp.Retries != wp.Retries) {
				t.Errorf("errors.As PINError: %v %+v, want %v %+v", g, gp, w, wp)
			}
			var gd, wd *agent.DeniedError
			if g, w := errors.As(got, &gd), errors.As(tt.err, &wd); g != w || (g && gd.Reason != wd.Reason) {
				t.Errorf("errors.As DeniedError: %v %+v, want %v %+v", g, gd, w, wd)
			}
		})
	}
	// An agent error leaves the connection usable.
	fake.mu.Lock()
	fake.err = nil
	fake.mu.Unlock()
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("after errors: %v", err)
	}
}

func TestDecodeErrorTolerates(t *testing.T) {
	// A code this client does not know is an internal error with the message.
	e := decodeError(failureBody{Code: 999, Message: "agent: something new"})
	if e.Error() != "agent: something new" || e.Unwrap() != nil {
		t.Fatalf("%v %v", e, e.Unwrap())
	}
	// An empty message falls back to the sentinel's.
	if e := decodeError(failureBody{Code: CodeLocked}); e.Error() != agent.ErrLocked.Error() {
		t.Fatalf("%q", e)
	}
	if e := decodeError(failureBody{Code: CodeInternal}); e.Error() == "" {
		t.Fatal("empty message")
	}
}

// rw is a ServeAgent connection made of a fixed input and a recorded output.
type rw struct {
	io.Reader
	out bytes.Buffer
}

func (c *rw) Write(p []byte) (int, error) { return c.out.Write(p) }

// serveRaw feeds raw bytes to ServeAgent and returns the frames it wrote.
func serveRaw(t *testing.T, a agent.Agent, in []byte) ([]frame, error) {
	t.Helper()
	conn := &rw{Reader: bytes.NewReader(in)}
	err := ServeAgent(context.Background(), a, conn)
	var out []frame
	for {
		f, rerr := readFrame(&conn.out, maxFrameBytes)
		if rerr == io.EOF {
			return out, err
		}
		if rerr != nil {
			t.Fatalf("ServeAgent wrote a bad frame: %v", rerr)
		}
		out = append(out, f)
	}
}

func encodeFrame(f frame) []byte {
	var b bytes.Buffer
	if err := writeFrame(&b, f); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func wantFailure(t *testing.T, f frame, code Code) {
	t.Helper()
	if f.typ != msgFailure || f.version != Version {
		t.Fatalf("got a %s frame (version %d), want failure", f.typ, f.version)
	}
	var b failureBody
	if err := json.Unmarshal(f.body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Code != code {
		t.Fatalf("code %v (%s), want %v", b.Code, b.Message, code)
	}
}

// A well-framed request the agent cannot use is answered with a failure and
// the next request on the same connection is served.
func TestServeAgentAnswersAndContinues(t *testing.T) {
	list := encodeFrame(frame{version: Version, typ: msgList})
	tests := []struct {
		name string
		req  frame
		code Code
	}{
		{"newer version", frame{version: Version + 1, typ: msgList}, CodeUnsupportedVersion},
		{"version zero", frame{version: 0, typ: msgSign, body: []byte(`{}`)}, CodeUnsupportedVersion},
		{"version 255", frame{version: 255, typ: msgSign, body: []byte(bulk(`{}`, ""))}, CodeUnsupportedVersion},
		{"unknown type", frame{version: Version, typ: 0x42}, CodeUnknownMessageType},
		{"response type as request", frame{version: Version, typ: msgList | msgSuccess}, CodeUnknownMessageType},
		{"failure type as request", frame{version: Version, typ: msgFailure}, CodeUnknownMessageType},
		{"body not JSON", frame{version: Version, typ: msgSign, body: []byte(bulk("\x00\x01", ""))}, CodeInvalidRequest},
		{"body shorter than its JSON length", frame{version: Version, typ: msgSign, body: []byte("\x00\x01")}, CodeInvalidRequest},
		{"unknown field", frame{version: Version, typ: msgSign, body: []byte(bulk(`{"key_id":"a","skip_policy":true}`, ""))}, CodeInvalidRequest},
		{"trailing data", frame{version: Version, typ: msgSign, body: []byte(bulk(`{"key_id":"a"} {}`, ""))}, CodeInvalidRequest},
		{"data in the JSON", frame{version: Version, typ: msgSign, body: []byte(bulk(`{"key_id":"a","data":"AA=="}`, ""))}, CodeInvalidRequest},
		{"wrong JSON type", frame{version: Version, typ: msgUnlock, body: []byte(`{"pin":7}`)}, CodeInvalidRequest},
		{"body on a bodiless request", frame{version: Version, typ: msgLock, body: []byte(`{}`)}, CodeInvalidRequest},
		{"empty body on a request that needs one", frame{version: Version, typ: msgSign}, CodeInvalidRequest},
		{"attest with an unknown field", frame{version: Version, typ: msgAttest, body: []byte(`{"key_id":"a","nonce":"x"}`)}, CodeInvalidRequest},
		{"attest without a body", frame{version: Version, typ: msgAttest}, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := new(fakeAgent)
			out, err := serveRaw(t, fake, append(encodeFrame(tt.req), list...))
			if err != nil {
				t.Fatalf("ServeAgent: %v", err)
			}
			if len(out) != 2 {
				t.Fatalf("%d frames, want 2", len(out))
			}
			wantFailure(t, out[0], tt.code)
			if out[1].typ != msgList|msgSuccess {
				t.Fatalf("second request: %s", out[1].typ)
			}
			if fake.callCount() != 1 {
				t.Fatalf("agent called %d times, want once (the list)", fake.callCount())
			}
		})
	}
}

// A frame that breaks the stream is answered with CodeInvalidRequest, and
// ServeAgent stops without reading on.
func TestServeAgentStopsOnBrokenFrames(t *testing.T) {
	list := encodeFrame(frame{version: Version, typ: msgList})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized", append(rawFrame(0xFFFFFFFF), list...), ErrFrameTooLarge},
		{"too short", append(rawFrame(1, 1), list...), ErrMalformedFrame},
		{"truncated", append(list, rawFrame(100, 1, 2, '{')...), ErrMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := serveRaw(t, new(fakeAgent), tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ServeAgent: %v, want %v", err, tt.want)
			}
			last := out[len(out)-1]
			wantFailure(t, last, CodeInvalidRequest)
			for _, f := range out[:len(out)-1] {
				if f.typ != msgList|msgSuccess {
					t.Fatalf("unexpected %s before the failure", f.typ)
				}
			}
		})
	}
}

func TestServeAgentStopsOnCancel(t *testing.T) {
	srv, cli := unixPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeAgent(ctx, new(fakeAgent), srv) }()
	c := NewClient(cli)
	defer c.Close()
	if _, err := c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ServeAgent: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeAgent did not stop")
	}
}
