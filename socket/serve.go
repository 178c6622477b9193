package socket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// refusalWriteTimeout bounds the one failure frame a refused peer is sent.
const refusalWriteTimeout = time.Second

// ServeOptions configures Serve. Zero fields take the defaults below
// (docs/PROTOCOL.md, "Limits").
type ServeOptions struct {
	// Logger gets a line for every refused connection and every connection
	// that ends in a protocol error. Nil means slog.Default().
	Logger *slog.Logger

	// IdleTimeout closes a connection that waits this long for the first
	// byte of a request (DefaultIdleTimeout). Client reconnects by itself.
	IdleTimeout time.Duration
	// FrameTimeout is how long a request frame may take to arrive whole
	// once its first byte arrived, and a response to be written
	// (DefaultFrameTimeout).
	FrameTimeout time.Duration
	// MaxConns caps the connections served at once (DefaultMaxConns). A
	// new connection beyond it closes the connection that has been idle
	// longest; when none is idle, accepting waits for one to end.
	MaxConns int
	// FrameBudget caps the bytes of request bodies over 64 KiB held at
	// once by all connections (DefaultFrameBudget); at least one
	// maximum-size frame (16 MiB).
	FrameBudget int
	// BudgetWait is how long a frame waits for FrameBudget before its
	// connection gets "agent busy" (code 7) and is closed
	// (DefaultBudgetWait).
	BudgetWait time.Duration

	budget *byteBudget                                // for tests: the budget to use, to watch it
	pool   *bodyPool                                  // for tests: the body buffers' pool, to poison or watch it
	sleep  func(ctx context.Context, d time.Duration) // for tests: the accept back-off
}

// Defaults of ServeOptions.
const (
	DefaultIdleTimeout  = 60 * time.Second
	DefaultFrameTimeout = 30 * time.Second // 16 MiB in 30 s is 560 KB/s
	DefaultMaxConns     = 256
	DefaultFrameBudget  = 64 << 20 // four 16 MiB frames
	DefaultBudgetWait   = 5 * time.Second
)

func (o ServeOptions) normalised() ServeOptions {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.FrameTimeout <= 0 {
		o.FrameTimeout = DefaultFrameTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.FrameBudget <= 0 {
		o.FrameBudget = DefaultFrameBudget
	}
	o.FrameBudget = max(o.FrameBudget, maxFrameBytes)
	if o.BudgetWait <= 0 {
		o.BudgetWait = DefaultBudgetWait
	}
	if o.budget == nil {
		o.budget = newByteBudget(o.FrameBudget)
	}
	if o.pool == nil {
		o.pool = new(bodyPool)
	}
	if o.sleep == nil {
		o.sleep = func(ctx context.Context, d time.Duration) {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
	}
	return o
}

// Serve accepts connections on l and serves each with ServeAgent in its own
// goroutine until ctx is done; it then closes l, waits for the connections
// to end (their reads are interrupted, their contexts cancelled) and returns
// nil. It returns an error if accepting fails for good.
//
// On Linux it reads each peer's credentials (SO_PEERCRED) and refuses, with
// a log line and a CodeDenied failure frame, any peer whose UID is neither
// the agent's effective UID nor root: the file modes Listen sets should keep
// such peers out, this holds when they are loosened. The peer reaches the
// agent through agent.PeerFrom on each request's context.
//
// Resources are bounded by opts: idle connections are closed, a frame must
// arrive within a deadline, connections are capped (the longest-idle one
// makes room for a new one), and big request bodies draw on one memory
// budget. When accepting fails for lack of file descriptors, Serve closes
// the longest-idle connection and backs off (5 ms doubling to 1 s) instead
// of spinning.
func Serve(ctx context.Context, l net.Listener, a agent.Agent, opts ServeOptions) error {
	opts = opts.normalised()
	log := opts.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	conns := newConnSet(ctx, opts.MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		if err != nil {
			if !temporary(err) {
				return fmt.Errorf("socket: accept: %w", err)
			}
			conns.evictIdle() // give a descriptor back
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("socket: accept failed; retrying", "err", err, "retry_in", backoff)
			opts.sleep(ctx, backoff)
			continue
		}
		backoff = 0
		tc := conns.add(conn) // waits while full and nothing is idle
		if tc == nil {
			conn.Close()
			return nil
		}
		lim := &connLimits{opts: &opts, budget: opts.budget, pool: opts.pool, tc: tc}
		wg.Go(func() {
			defer conns.remove(tc)
			serveConn(ctx, conn, a, log, lim)
		})
	}
}

// temporary reports accept errors that go away when connections close.
func temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func serveConn(ctx context.Context, conn net.Conn, a agent.Agent, log *slog.Logger, lim *connLimits) {
	defer conn.Close()
	peer, err := peerOf(conn)
	if err != nil {
		log.Warn("socket: refused a connection", "err", err)
		return
	}
	if peerChecked && peer.UID != os.Geteuid() && peer.UID != 0 {
		log.Warn("socket: refused a connection from another user",
			"uid", peer.UID, "gid", peer.GID, "pid", peer.PID, "exe", peer.Exe, "agent_uid", os.Geteuid())
		conn.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		_ = writeFrame(conn, failure(failureBody{Code: CodeDenied, Message: fmt.Sprintf(
			"socket: connection refused: uid %d is neither the agent's user nor root", peer.UID)}))
		return
	}
	err = serve(agent.WithPeer(ctx, peer), a, conn, lim)
	if err != nil && err != errIdle && ctx.Err() == nil {
		log.Warn("socket: connection ended with an error",
			"err", err, "uid", peer.UID, "pid", peer.PID, "exe", peer.Exe)
	}
}
