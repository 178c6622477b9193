package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// unixPair returns two connected Unix stream sockets.
func unixPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// answerWith serves one request on srv by writing raw, then closes srv.
func answerWith(t *testing.T, srv net.Conn, raw []byte) {
	go func() {
		defer srv.Close()
		if _, err := readFrame(srv, maxFrameBytes); err != nil {
			t.Errorf("fake server: %v", err)
			return
		}
		srv.Write(raw)
	}()
}

// The client refuses bad responses, the oversized before reading a byte of
// body, and drops the connection.
func TestClientRefusesBadResponses(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"oversized", rawFrame(0xFFFFFFFF, 1, 0x88), ErrFrameTooLarge},
		{"too short", rawFrame(0), ErrMalformedFrame},
		{"truncated", rawFrame(50, 1, 0x88, '{'), ErrMalformedFrame},
		{"no answer", nil, io.ErrUnexpectedEOF},
		{"older version", encodeFrame(frame{version: 1, typ: msgStatus | msgSuccess, body: []byte("{}")}), ErrUnsupportedVersion},
		{"newer version", encodeFrame(frame{version: Version + 1, typ: msgStatus | msgSuccess, body: []byte("{}")}), ErrUnsupportedVersion},
		{"answer to another request", encodeFrame(frame{version: Version, typ: msgList | msgSuccess, body: []byte("[]")}), ErrMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := unixPair(t)
			answerWith(t, srv, tt.raw)
			c := NewClient(cli)
			defer c.Close()
			_, err := c.Status(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := c.Status(context.Background()); err == nil {
				t.Fatal("the connection was not dropped")
			}
		})
	}
}

func TestClientBadSuccessBodyKeepsConnection(t *testing.T) {
	srv, cli := unixPair(t)
	c := NewClient(cli)
	defer c.Close()
	go func() {
		readFrame(srv, maxFrameBytes)
		srv.Write(encodeFrame(frame{version: Version, typ: msgStatus | msgSuccess, body: []byte(`{"pid":"x"}`)}))
		ServeAgent(context.Background(), new(fakeAgent), srv)
	}()
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("bad body accepted")
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("framing was intact, yet: %v", err)
	}
}

func TestClientCancel(t *testing.T) {
	fake := &fakeAgent{block: make(chan struct{})}
	defer close(fake.block)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Sign(ctx, agent.SignRequest{KeyID: "aa"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("already cancelled: %v", err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("a call cancelled before it started broke the connection: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Sign(ctx, agent.SignRequest{KeyID: "aa"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("the connection survived a request cancelled mid-way")
	}
}

func TestClientClose(t *testing.T) {
	path, _ := serveFake(t, new(fakeAgent))
	c := dialT(t, path)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Lock(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestClientCloseInterruptsCall(t *testing.T) {
	fake := &fakeAgent{block: make(chan struct{})}
	defer close(fake.block)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)
	done := make(chan error, 1)
	go func() {
		_, err := c.Sign(context.Background(), agent.SignRequest{KeyID: "aa"})
		done <- err
	}()
	for fake.callCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt the call")
	}
}

func TestClientRefusesOversizedRequest(t *testing.T) {
	path, _ := serveFake(t, new(fakeAgent))
	c := dialT(t, path)
	_, err := c.Sign(context.Background(), agent.SignRequest{KeyID: "aa", Data: make([]byte, maxFrameBytes)})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("connection broken by a request refused locally: %v", err)
	}
}

func TestDialMissing(t *testing.T) {
	if _, err := Dial(t.TempDir() + "/none.sock"); err == nil {
		t.Fatal("dialled nothing")
	}
}

// One Client shared by many goroutines: every answer is its own request's.
func TestClientConcurrent(t *testing.T) {
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				req := agent.SignRequest{KeyID: fmt.Sprintf("k%d-%d", i, j), Data: make([]byte, 100*j)}
				got, err := c.Sign(context.Background(), req)
				if err != nil {
					t.Error(err)
					return
				}
				want, _ := fake.Sign(context.Background(), req)
				if got.KeyID != req.KeyID || string(got.Signature) != string(want.Signature) {
					t.Errorf("answer to %s: %+v", req.KeyID, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A client that sends garbage is answered and dropped; others are served
// before, during and after.
func TestServeSurvivesBadClients(t *testing.T) {
	fake := new(fakeAgent)
	path, logBuf := serveFake(t, fake)
	good := dialT(t, path)
	if _, err := good.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{rawFrame(0xFFFFFFFF), []byte("GET / HTTP/1.0\r\n\r\n"), rawFrame(1, 1), rawFrame(9, 1, 1)} {
		bad, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		bad.Write(raw)
		if cw, ok := bad.(*net.UnixConn); ok {
			cw.CloseWrite()
		}
		bad.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := readFrame(bad, maxFrameBytes)
		if err != nil {
			t.Fatalf("%q: no answer: %v", raw, err)
		}
		wantFailure(t, f, CodeInvalidRequest)
		if _, err := readFrame(bad, maxFrameBytes); err == nil {
			t.Fatalf("%q: connection not closed", raw)
		}
		bad.Close()
		if _, err := good.List(context.Background()); err != nil {
			t.Fatalf("after %q: %v", raw, err)
		}
	}
	if _, err := dialT(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !containsAll(logBuf.String(), "connection ended with an error", "frame too large") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !containsAll(logBuf.String(), "connection ended with an error", "frame too large") {
		t.Errorf("bad clients not logged:\n%s", logBuf)
	}
}
