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

// ServeOptions configures Serve.
type ServeOptions struct {
	// Logger gets a line for every refused connection and every connection
	// that ends in a protocol error. Nil means slog.Default().
	Logger *slog.Logger
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
func Serve(ctx context.Context, l net.Listener, a agent.Agent, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

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
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("socket: accept failed; retrying", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		wg.Go(func() { serveConn(ctx, conn, a, log) })
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

func serveConn(ctx context.Context, conn net.Conn, a agent.Agent, log *slog.Logger) {
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
	err = ServeAgent(agent.WithPeer(ctx, peer), a, conn)
	if err != nil && ctx.Err() == nil {
		log.Warn("socket: connection ended with an error",
			"err", err, "uid", peer.UID, "pid", peer.PID, "exe", peer.Exe)
	}
}
