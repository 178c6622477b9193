package socket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrAgentBusy is why a frame was refused when the memory budget for frame
// bodies stayed spent for ServeOptions.BudgetWait: other connections hold
// it. The peer gets code 7 (invalid request) with this message, and the
// connection is closed, since its body was left unread.
var ErrAgentBusy = errors.New("socket: agent busy")

// byteBudget is a weighted semaphore over bytes of frame bodies, shared by
// every connection of one Serve. Waiters are served first come, first
// served, so a big frame is not starved by a stream of smaller ones.
type byteBudget struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int
	ready chan struct{} // closed when granted
}

func newByteBudget(limit int) *byteBudget { return &byteBudget{limit: limit} }

// acquire takes n bytes, waiting at most wait (or until ctx ends). n must
// not exceed the limit.
func (b *byteBudget) acquire(ctx context.Context, n int, wait time.Duration) (release func(), err error) {
	if n > b.limit {
		return nil, fmt.Errorf("%w: a %d-byte frame is over the whole budget of %d bytes", ErrAgentBusy, n, b.limit)
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.used += n
		b.mu.Unlock()
		return b.releaser(n), nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return b.releaser(n), nil
	case <-t.C:
		err = fmt.Errorf("%w: no memory for a %d-byte frame within %s (the %d-byte budget is in use by other connections); try again later",
			ErrAgentBusy, n, wait, b.limit)
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while giving up: hand it back
		b.used -= n
		b.grantLocked()
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
		b.grantLocked() // the head may have changed
	}
	return nil, err
}

func (b *byteBudget) releaser(n int) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			b.grantLocked()
			b.mu.Unlock()
		})
	}
}

// grantLocked wakes waiters from the head of the queue while they fit.
func (b *byteBudget) grantLocked() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.used += w.n
		close(w.ready)
	}
}

// inUse reports the bytes granted and not yet released.
func (b *byteBudget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
