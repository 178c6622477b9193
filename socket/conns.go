package socket

import (
	"context"
	"net"
	"sync"
	"time"
)

// connSet is the connections one Serve is serving, capped at max. It knows
// which are idle (waiting for the first byte of a request) and since when,
// so a new connection can take the place of the longest-idle one: 1,000
// connections opened and left idle cost at most max descriptors and never
// keep a new client out.
type connSet struct {
	ctx   context.Context
	mu    sync.Mutex
	cond  *sync.Cond
	max   int
	conns map[*trackedConn]struct{}
}

// trackedConn is one connection's state in its connSet.
type trackedConn struct {
	set       *connSet
	conn      net.Conn
	idleSince time.Time // zero while a request is read or served
	evicted   bool
}

func newConnSet(ctx context.Context, max int) *connSet {
	s := &connSet{ctx: ctx, max: max, conns: map[*trackedConn]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	return s
}

// add registers conn. When the set is full it closes the longest-idle
// connection; when none is idle it waits until one ends (accepting waits
// meanwhile: the kernel's backlog holds new clients, no loop spins). It
// returns nil when ctx ends first.
func (s *connSet) add(conn net.Conn) *trackedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.conns) >= s.max {
		if s.ctx.Err() != nil {
			return nil
		}
		if !s.evictLocked() {
			s.cond.Wait()
		}
	}
	tc := &trackedConn{set: s, conn: conn, idleSince: time.Now()}
	s.conns[tc] = struct{}{}
	return tc
}

func (s *connSet) remove(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc)
	s.cond.Signal()
	s.mu.Unlock()
}

// evictIdle closes the longest-idle connection, if any.
func (s *connSet) evictIdle() {
	s.mu.Lock()
	s.evictLocked()
	s.mu.Unlock()
}

// evictLocked closes the longest-idle connection and forgets it at once, so
// its slot is free. A connection is idle only before the first byte of a
// request was seen (setBusy), so a request is never cut off once read.
func (s *connSet) evictLocked() bool {
	var oldest *trackedConn
	for tc := range s.conns {
		if !tc.idleSince.IsZero() && (oldest == nil || tc.idleSince.Before(oldest.idleSince)) {
			oldest = tc
		}
	}
	if oldest == nil {
		return false
	}
	oldest.evicted = true
	oldest.conn.Close()
	delete(s.conns, oldest)
	return true
}

// setIdle marks the connection as waiting for a request; false if it was
// evicted.
func (tc *trackedConn) setIdle() bool {
	tc.set.mu.Lock()
	defer tc.set.mu.Unlock()
	if tc.evicted {
		return false
	}
	tc.idleSince = time.Now()
	return true
}

// setBusy marks the connection as reading or serving a request; false if
// it was evicted meanwhile (the request is then dropped unread).
func (tc *trackedConn) setBusy() bool {
	tc.set.mu.Lock()
	defer tc.set.mu.Unlock()
	if tc.evicted {
		return false
	}
	tc.idleSince = time.Time{}
	return true
}

func (tc *trackedConn) wasEvicted() bool {
	tc.set.mu.Lock()
	defer tc.set.mu.Unlock()
	return tc.evicted
}

// count reports the connections in the set.
func (s *connSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
