package socket

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// serveWith serves a with opts (the logger set here) until the test ends.
func serveWith(t *testing.T, a agent.Agent, opts ServeOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, a, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// waitClosed reads from c until the agent closes it and returns the frames
// it sent first. It fails the test after a generous wait: the mechanism,
// not its speed, is under test.
func waitClosed(t *testing.T, c net.Conn) []frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var out []frame
	for {
		f, err := readFrame(c, maxFrameBytes)
		if err == nil {
			out = append(out, f)
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
			return out
		}
		t.Fatalf("connection not closed by the agent: %v", err)
	}
}

// header announces a frame of typ with a body of n bytes.
func header(typ msgType, n int) []byte {
	h := make([]byte, headerBytes)
	binary.BigEndian.PutUint32(h, uint32(n+2))
	h[4], h[5] = Version, byte(typ)
	return h
}

// A connection that sends nothing is closed after IdleTimeout.
func TestIdleConnectionClosed(t *testing.T) {
	path := serveWith(t, new(fakeAgent), ServeOptions{IdleTimeout: 50 * time.Millisecond})
	c := rawConn(t, path)
	if out := waitClosed(t, c); len(out) != 0 {
		t.Fatalf("idle connection got %d frames", len(out))
	}
	// Also after a request.
	c = rawConn(t, path)
	if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
		t.Fatal(f.typ)
	}
	waitClosed(t, c)
}

// A Client made by Dial reconnects by itself when the agent closed its idle
// connection, for every kind of call, unlock included.
func TestClientReconnectsAfterIdleClose(t *testing.T) {
	fake := new(fakeAgent)
	path := serveWith(t, fake, ServeOptions{IdleTimeout: 50 * time.Millisecond})
	c := dialT(t, path)
	ctx := context.Background()
	for i, call := range []func() error{
		func() error { _, err := c.List(ctx); return err },
		func() error { return c.Unlock(ctx, agent.UnlockRequest{PIN: []byte("123456")}) },
		func() error { _, err := c.Sign(ctx, agent.SignRequest{KeyID: "aa"}); return err },
		func() error { _, err := c.Generate(ctx, agent.GenerateRequest{}); return err },
	} {
		old := waitIdleClosed(t, c)
		if err := call(); err != nil {
			t.Fatalf("call %d after the idle close: %v", i, err)
		}
		if c.currentConn() == old {
			t.Fatalf("call %d: no new connection", i)
		}
	}
	if n := fake.callCount(); n != 4 {
		t.Fatalf("agent called %d times, want 4 (each call once)", n)
	}
}

// A request hit by the agent's close between the client's check and its
// write (the request is never read) is sent again when that is harmless.
func TestClientRetriesIdempotentOnHangUp(t *testing.T) {
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	c := dialT(t, path)
	// Simulate the race: the connection dies with no EOF visible to the
	// pre-check, as if the agent closed it right after.
	server, client := unixPair(t)
	server.Close()
	c.mu.Lock()
	c.connMu.Lock()
	c.conn.Close()
	c.conn = client
	c.r.Reset(client)
	c.connMu.Unlock()
	c.broken = nil
	c.mu.Unlock()
	if _, err := c.List(context.Background()); err != nil {
		t.Fatalf("list after a hang-up: %v", err)
	}
	if fake.callCount() != 1 {
		t.Fatalf("agent called %d times", fake.callCount())
	}
}

// A frame whose first byte arrived must arrive whole within FrameTimeout:
// a stalled one gets a failure, its connection is closed and the refusal
// recorded.
func TestStalledFrameClosed(t *testing.T) {
	a := newRecordingAgent()
	path := serveWith(t, a, ServeOptions{FrameTimeout: 100 * time.Millisecond})
	for _, partial := range [][]byte{
		{0},                                    // inside the length
		header(msgSign, 100),                   // after the header
		append(header(msgSign, 100), "{"...),   // inside the body
		append(header(msgSign, 1<<20), "{"...), // inside a big body
	} {
		c := rawConn(t, path)
		c.Write(partial)
		out := waitClosed(t, c)
		if len(out) != 1 {
			t.Fatalf("% x: %d frames, want one failure", partial, len(out))
		}
		if b := failureOf(t, out[0]); b.Code != CodeInvalidRequest || !strings.Contains(b.Message, "did not arrive whole") {
			t.Fatalf("% x: %v %q", partial, b.Code, b.Message)
		}
	}
	if r := a.recorded(); len(r) != 4 || r[0].op != "frame" {
		t.Fatalf("refusals %+v, want 4 for frame", r)
	}
	if a.callCount() != 0 {
		t.Fatal("agent called")
	}
}

// A big frame that arrives slowly but within FrameTimeout is served.
func TestSlowBigFrameServed(t *testing.T) {
	path := serveWith(t, new(fakeAgent), ServeOptions{})
	c := rawConn(t, path)
	body := []byte(bulk(`{"key_id":"aa"}`, strings.Repeat("A", maxFrameBytes-64)))
	c.SetDeadline(time.Now().Add(60 * time.Second))
	c.Write(header(msgSign, len(body)))
	for chunk := range sliceChunks(body, len(body)/32+1) {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f, err := readFrame(c, maxFrameBytes)
	if err != nil || f.typ != msgSign|msgSuccess {
		t.Fatalf("%v %v", f.typ, err)
	}
}

func sliceChunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			m := min(n, len(b))
			if !yield(b[:m]) {
				return
			}
			b = b[m:]
		}
	}
}

// Big frames draw on one budget: four stalled 16 MiB frames hold the
// default 64 MiB, the fifth waits BudgetWait and is refused as busy while
// small requests are served, and once the frames end the budget is back to
// zero.
func TestFrameBudget(t *testing.T) {
	budget := newByteBudget(DefaultFrameBudget)
	a := newRecordingAgent()
	path := serveWith(t, a, ServeOptions{budget: budget, BudgetWait: 100 * time.Millisecond})
	big := maxFrameBytes - 2
	var stalled []net.Conn
	for range DefaultFrameBudget / maxFrameBytes {
		c := rawConn(t, path)
		c.Write(append(header(msgSign, big), bulk(`{"key_id":"aa"}`, "")...))
		stalled = append(stalled, c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for budget.inUse() < DefaultFrameBudget-4*2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// A sign body is budgeted at the capacity of its pooled buffer.
	if got := budget.inUse(); got != 4*bodyClass(big) {
		t.Fatalf("budget in use %d, want %d", got, 4*bodyClass(big))
	}
	fifth := rawConn(t, path)
	fifth.Write(header(msgSign, big))
	small := rawConn(t, path)
	if f := rawRequest(t, small, msgSign, bulk(`{"key_id":"aa"}`, "AAA")); f.typ != msgSign|msgSuccess {
		t.Fatalf("small request while the budget is spent: %s", f.typ)
	}
	out := waitClosed(t, fifth)
	if len(out) != 1 {
		t.Fatalf("fifth big frame: %d frames", len(out))
	}
	if b := failureOf(t, out[0]); b.Code != CodeInvalidRequest || !strings.Contains(b.Message, "agent busy") {
		t.Fatalf("fifth big frame: %v %q", b.Code, b.Message)
	}
	// Finish the stalled frames: they are served, and the budget empties.
	rest := []byte(strings.Repeat("A", big-len(bulk(`{"key_id":"aa"}`, ""))))
	for _, c := range stalled {
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Write(rest); err != nil {
			t.Fatal(err)
		}
		f, err := readFrame(c, maxFrameBytes)
		if err != nil {
			t.Fatal(err)
		}
		if f.typ != msgSign|msgSuccess {
			t.Fatal(failureOf(t, f))
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for budget.inUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := budget.inUse(); n != 0 {
		t.Fatalf("budget still holds %d bytes", n)
	}
	busy := 0
	for _, r := range a.recorded() {
		if r.op == "frame" && strings.Contains(r.err, "agent busy") {
			busy++
		}
	}
	if busy != 1 {
		t.Fatalf("recorded %d busy refusals, want 1: %+v", busy, a.recorded())
	}
}

// With MaxConns connections open and idle, a new client is served: the
// longest-idle connection makes room. Hundreds of idle connections cost at
// most MaxConns.
func TestConnectionCapEvictsLongestIdle(t *testing.T) {
	const maxConns = 8
	fake := new(fakeAgent)
	path := serveWith(t, fake, ServeOptions{MaxConns: maxConns})
	var idle []net.Conn
	for range 300 {
		idle = append(idle, rawConn(t, path))
	}
	c := dialT(t, path)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("new client with 300 idle connections: %v", err)
	}
	// The first connections were evicted (closed), the last ones are open.
	if out := waitClosed(t, idle[0]); len(out) != 0 {
		t.Fatal("evicted connection got frames")
	}
	// Which of the last connections the new client's arrival evicted
	// depends on accept timing; most of the last maxConns are still
	// served.
	served := 0
	for _, conn := range idle[len(idle)-maxConns+1:] {
		if f, ok := tryRequest(conn, msgList); ok && f.typ == msgList|msgSuccess {
			served++
		}
	}
	if served < maxConns/2 {
		t.Fatalf("only %d of the last %d connections are served", served, maxConns-1)
	}
}

// tryRequest sends one request and reads one frame, reporting failure
// instead of failing the test (the connection may have been evicted).
func tryRequest(c net.Conn, typ msgType) (frame, bool) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if err := writeFrame(c, frame{version: Version, typ: typ}); err != nil {
		return frame{}, false
	}
	f, err := readFrame(bufio.NewReader(c), maxFrameBytes)
	return f, err == nil
}

// A connection in the middle of a frame is never evicted: when every slot
// is busy, the new client waits until one ends, then is served.
func TestConnectionCapWaitsForBusy(t *testing.T) {
	path := serveWith(t, new(fakeAgent), ServeOptions{MaxConns: 2, FrameTimeout: 300 * time.Millisecond})
	var busy []net.Conn
	for range 2 {
		c := rawConn(t, path)
		c.Write(header(msgList, 0)[:5]) // stalled in the header
		busy = append(busy, c)
	}
	time.Sleep(50 * time.Millisecond) // let both be accepted first
	c := rawConn(t, path)
	if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
		t.Fatalf("new client: %s", f.typ)
	}
	for _, b := range busy {
		out := waitClosed(t, b)
		if len(out) != 1 || !strings.Contains(failureOf(t, out[0]).Message, "did not arrive whole") {
			t.Fatalf("a busy connection was cut off, not timed out: %d frames", len(out))
		}
	}
}

// emfileListener hands out one connection, then fails Accept with EMFILE
// a number of times, then hands out the connections of the real listener.
type emfileListener struct {
	net.Listener
	mu       sync.Mutex
	accepted int
	fails    int
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.accepted > 0 && l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	l.mu.Lock()
	l.accepted++
	l.mu.Unlock()
	return c, err
}

// Out of file descriptors, the accept loop backs off (doubling, capped at
// a second) instead of spinning, and gives a descriptor back by closing the
// longest-idle connection; then it serves again.
func TestAcceptBacksOffAtEMFILE(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	inner, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	l := &emfileListener{Listener: inner, fails: 12}
	var mu sync.Mutex
	var sleeps []time.Duration
	opts := ServeOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		sleep: func(ctx context.Context, d time.Duration) {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, new(fakeAgent), opts) }()
	defer func() { cancel(); <-done }()
	// The first Accept takes idle, then twelve fail (the first of them
	// evicts idle), then c is accepted.
	if out := waitClosed(t, idle); len(out) != 0 {
		t.Fatal("the idle connection got frames")
	}
	c := rawConn(t, path)
	if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
		t.Fatal(f.typ)
	}
	mu.Lock()
	got := append([]time.Duration(nil), sleeps...)
	mu.Unlock()
	if len(got) != 12 {
		t.Fatalf("%d back-offs for 12 failures", len(got))
	}
	for i, d := range got {
		want := min(5*time.Millisecond<<i, time.Second)
		if d != want {
			t.Fatalf("back-off %d: %v, want %v (all: %v)", i, d, want, got)
		}
	}
}

// waitIdleClosed waits (20 s at most) until the agent has closed c's
// connection as idle, and returns that connection.
func waitIdleClosed(t *testing.T, c *Client) net.Conn {
	t.Helper()
	old := c.currentConn()
	deadline := time.Now().Add(20 * time.Second)
	for !peerClosed(old) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !peerClosed(old) {
		t.Fatal("the agent did not close the idle connection")
	}
	return old
}
