package socket

import (
	"math/bits"
	"slices"
	"sync"
	"time"
)

// Reusing the buffers of big request bodies (sign and sign-payload over
// smallBody bytes). A buffer read fresh from the heap costs, per 1 MiB
// request, the zeroing of the new memory and the page faults of its first
// write (inside the read system call), then the garbage collector's work
// and its madvise handing the freed pages back: about as much as the
// kernel's own copies. A bodyPool keeps a few released buffers for the
// next big request instead.
//
// What makes this safe (SECURITY.md, "Pooled request buffers"):
//
//   - Only the bodies of sign and sign-payload are pooled: the bytes to
//     sign (TUF metadata, a Notary or cosign payload) are what the client
//     publishes, and never a secret, so a released buffer is not cleared.
//     Unlock (the PIN) is always smaller than smallBody and import (a
//     private key) is never pooled: their buffers are made fresh, and the
//     server clears the unlock body after use as before.
//   - decodeRequest hands the agent SignRequest.Data or
//     PayloadRequest.Payload in place, a slice of the pooled buffer. The
//     buffer goes back to the pool only when the connection's release runs,
//     after the agent's method returned and the reply (encoded from the
//     method's results before that) was written. Nothing the agent keeps
//     aliases the payload: TUF's parsed document and its digest goroutine
//     (waited for before Sign returns: Decision.Digest), the audit event,
//     Decision.Facts and Metadata and error messages hold strings copied
//     out of it. TestPooledBufferPoisoned checks that by filling every
//     released buffer with 'X' and looking for it in replies, audit lines
//     and the agent's state, for every format, accepted and refused.
//   - A buffer is out to one request at a time: get removes it from the
//     pool, put adds it back once (readFrameBudget's release runs once).
//     TestPooledBuffersConcurrent signs big payloads on several
//     connections at once under the race detector with the pool checking
//     that no buffer is handed out twice.
//   - The memory budget (byteBudget) counts a pooled body at its buffer's
//     whole capacity while it is in use; idle buffers are bounded here
//     (maxIdleBuffers, maxIdleBytes, maxIdlePerClass), so a burst of big
//     requests leaves at most 16 MiB behind, and only for poolIdleTimeout:
//     then the garbage collector may hand it back to the system.

// Idle buffers a bodyPool keeps: a few per size class, a few in all, and
// at most one maximum frame's worth of bytes, so that the agent's memory
// after a burst of big signatures (docs/PERFORMANCE.md, P5) is at most
// this much above what it was.
const (
	maxIdlePerClass = 2
	maxIdleBuffers  = 8
	maxIdleBytes    = maxFrameBytes
)

// poolIdleTimeout is how long idle buffers are kept after the last big
// request: reuse pays between the sign requests of one publish (a second
// apart at most), and an agent that signed one big Targets file an hour
// ago should not still hold its buffer.
const poolIdleTimeout = 10 * time.Second

// bodyClass is the capacity of the buffer a pooled body of n bytes gets:
// n rounded up to a quarter of its power of two (n in (2^k, 2^(k+1)]
// rounds to 1.25, 1.5, 1.75 or 2 × 2^k), so no buffer is more than 25%
// larger than its body and a buffer serves every body of its class. A body
// of at most maxFrameBytes gets at most maxFrameBytes.
func bodyClass(n int) int {
	if n <= 8 {
		return n
	}
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) &^ (step - 1)
}

// bodyPool is one Serve's idle body buffers. Its methods are safe for
// concurrent use.
type bodyPool struct {
	mu    sync.Mutex
	idle  [][]byte // full capacity; the most recently released last
	size  int      // bytes in idle
	last  time.Time
	timer *time.Timer   // drops the idle buffers poolIdleTimeout after last
	keep  time.Duration // poolIdleTimeout, or a test's

	// For tests: poison, when not zero, fills every released buffer (its
	// whole capacity) with that byte; out, when not nil, holds the
	// buffers handed out, and get or put panics on a buffer out twice or
	// put twice.
	poison byte
	out    map[*byte]bool
}

// get returns a buffer for a body of n bytes (n > 0): its length and
// capacity are bodyClass(n), and it is reused when one is idle. Its
// contents are left over from an earlier request: the caller reads the
// body into buf[:n:n] (the capacity cut, so that an append to a slice of
// the body cannot write into the rest of the buffer) and gives buf itself
// back to put.
func (p *bodyPool) get(n int) []byte {
	c := bodyClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	var buf []byte
	for i := len(p.idle) - 1; i >= 0; i-- {
		if cap(p.idle[i]) == c {
			buf = p.idle[i]
			p.idle = slices.Delete(p.idle, i, i+1) // clears the slot left behind
			p.size -= c
			break
		}
	}
	if buf == nil {
		buf = make([]byte, c)
	}
	if p.out != nil {
		if p.out[&buf[0]] {
			panic("socket: a pooled body buffer handed out twice")
		}
		p.out[&buf[0]] = true
	}
	return buf
}

// put gives back a buffer get returned; it is kept when the bounds allow,
// or dropped for the garbage collector.
func (p *bodyPool) put(buf []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out != nil {
		if !p.out[&buf[0]] {
			panic("socket: a pooled body buffer given back twice, or never handed out")
		}
		delete(p.out, &buf[0])
	}
	if p.poison != 0 {
		for i := range buf {
			buf[i] = p.poison
		}
	}
	c := cap(buf)
	p.idle = append(p.idle, buf[:c])
	p.size += c
	// Over a bound: drop the oldest idle buffers, of this class first.
	same := 0
	for i := len(p.idle) - 1; i >= 0; i-- {
		if cap(p.idle[i]) == c {
			if same++; same > maxIdlePerClass {
				p.drop(i)
			}
		}
	}
	for len(p.idle) > maxIdleBuffers || p.size > maxIdleBytes {
		p.drop(0)
	}
	if p.keep == 0 {
		p.keep = poolIdleTimeout
	}
	p.last = time.Now()
	if p.timer == nil {
		p.timer = time.AfterFunc(p.keep, p.expire)
	} else {
		p.timer.Reset(p.keep)
	}
}

// expire drops the idle buffers once none was given back for p.keep.
func (p *bodyPool) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if left := p.keep - time.Since(p.last); left > 0 { // a put came meanwhile
		p.timer.Reset(left)
		return
	}
	for len(p.idle) > 0 {
		p.drop(len(p.idle) - 1)
	}
}

func (p *bodyPool) drop(i int) {
	p.size -= cap(p.idle[i])
	p.idle = slices.Delete(p.idle, i, i+1) // clears the slot left behind
}

// idleBytes reports the bytes of the idle buffers.
func (p *bodyPool) idleBytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}
