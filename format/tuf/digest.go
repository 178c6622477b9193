package tuf

import (
	"crypto/sha256"
	"sync/atomic"
)

// Hashing while checking: TUF signs SHA-256(payload), which does not
// depend on the policy's answer, so Check starts the hash on a second core
// before it parses, and the agent signs the digest (Decision.Digest,
// Policy.SignDigest). A refused payload's hash is stopped and dropped;
// nothing is signed before Check says yes.

// concurrentDigestMin is the smallest payload hashed beside the check:
// below it a goroutine costs more than the hash (a 1 KiB payload hashes
// in about a microsecond).
const concurrentDigestMin = 64 << 10

// digestChunk is how much the hash reads between looks at the stop flag:
// a refused payload stops being read within one chunk's hash.
const digestChunk = 64 << 10

// pendingDigest is a SHA-256 being computed by its own goroutine.
type pendingDigest struct {
	stop atomic.Bool
	done chan struct{}
	sum  [sha256.Size]byte
	ok   bool // the whole payload was hashed (written before done closes)
}

// startDigest starts hashing payload on its own goroutine.
func startDigest(payload []byte) *pendingDigest {
	pd := &pendingDigest{done: make(chan struct{})}
	go func() {
		defer close(pd.done)
		h := sha256.New()
		for rest := payload; len(rest) > 0; {
			if pd.stop.Load() {
				return
			}
			n := min(len(rest), digestChunk)
			h.Write(rest[:n])
			rest = rest[n:]
		}
		h.Sum(pd.sum[:0])
		pd.ok = true
	}()
	return pd
}

// wait returns the digest once the goroutine is done with the payload.
func (pd *pendingDigest) wait() []byte {
	<-pd.done
	if !pd.ok {
		return nil
	}
	return pd.sum[:]
}

// abandon stops the hash and waits until the goroutine no longer reads
// the payload.
func (pd *pendingDigest) abandon() {
	pd.stop.Store(true)
	<-pd.done
}
