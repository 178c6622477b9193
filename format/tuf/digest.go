package tuf

import (
	"crypto/sha256"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// Hashing while checking: TUF signs SHA-256(payload), which does not
// depend on the policy's answer, so Check hashes a big payload while a
// second goroutine parses and checks it, and the agent signs the digest
// (Decision.Digest, Policy.SignDigest). The hash, the longer of the two,
// stays on the caller's goroutine: the second goroutine's start (waking
// an idle CPU) is hidden inside it. A refusal stops the hash within one
// chunk; nothing is signed before Check says yes, and both are done with
// the payload when Check returns.

// concurrentDigestMin is the smallest payload hashed beside the check:
// below it a goroutine costs more than the hash (a 1 KiB payload hashes
// in about a microsecond).
const concurrentDigestMin = 64 << 10

// digestChunk is how much the hash reads between looks at the stop flag:
// a refused payload stops being read within one chunk's hash.
const digestChunk = 64 << 10

// hashUnless returns SHA-256(payload), or false when stop was set before
// the whole payload was read.
func hashUnless(payload []byte, stop *atomic.Bool) (sum [sha256.Size]byte, ok bool) {
	h := sha256.New()
	for rest := payload; len(rest) > 0; {
		if stop.Load() {
			return sum, false
		}
		n := min(len(rest), digestChunk)
		h.Write(rest[:n])
		rest = rest[n:]
	}
	h.Sum(sum[:0])
	return sum, true
}

// checkBesideHash runs check on its own goroutine while it hashes payload
// on this one, and returns when both are done: the payload's SHA-256 when
// check said yes, else nil and check's error (a failed check stops the
// hash). A panic in check (a parser bug a crafted payload finds) stops
// the hash too and is raised again here, with check's stack, as if check
// had run on this goroutine: on its own it would end the process where no
// caller can recover it. What check writes is the caller's to read once
// checkBesideHash returns.
func checkBesideHash(payload []byte, check func() error) (digest []byte, err error) {
	var refused atomic.Bool
	type checked struct {
		err      error
		panicked string // check's panic and stack, when it panicked
	}
	done := make(chan checked, 1)
	go func() {
		var c checked
		returned := false
		defer func() {
			if r := recover(); r != nil {
				c.panicked = fmt.Sprintf("%v\n\n(raised again on Check's goroutine) the check's goroutine:\n%s", r, debug.Stack())
			} else if !returned { // runtime.Goexit: no answer is no yes
				c.panicked = "tuf: the check's goroutine exited without an answer"
			}
			if c.err != nil || c.panicked != "" {
				refused.Store(true)
			}
			done <- c
		}()
		c.err = check()
		returned = true
	}()
	sum, whole := hashUnless(payload, &refused)
	c := <-done
	if c.panicked != "" {
		panic(c.panicked)
	}
	if c.err != nil || !whole {
		return nil, c.err
	}
	return sum[:], nil
}
