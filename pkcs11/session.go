//go:build cgo

package pkcs11

import (
	"github.com/miekg/pkcs11"
)

// defaultSessions bounds the session pool. SoftHSM serialises much of its
// work internally, and measured P-256 signing gains little beyond 2-4
// sessions (about 14,000/s on one, 15,000-17,000/s on 2-4, on 2 cores);
// hardware tokens often allow only a handful of sessions in all.
const defaultSessions = 4

// pool hands out sessions for one slot, at most max at a time, opening them
// lazily and keeping them for reuse. A PKCS#11 session runs one operation
// at a time, so a session belongs to one goroutine between get and put;
// the context itself is shared (C_Initialize with CKF_OS_LOCKING_OK).
type pool struct {
	p    *pkcs11.Ctx
	slot uint
	// sem holds one token per session that may be in use; idle holds
	// sessions opened earlier and free now. A session is always either
	// idle or owned by a token holder, so at most cap(sem) exist.
	sem  chan struct{}
	idle chan pkcs11.SessionHandle
}

func newPool(p *pkcs11.Ctx, slot uint, max int) *pool {
	return &pool{
		p:    p,
		slot: slot,
		sem:  make(chan struct{}, max),
		idle: make(chan pkcs11.SessionHandle, max),
	}
}

// get returns a session, waiting while max are in use.
func (q *pool) get() (pkcs11.SessionHandle, error) {
	q.sem <- struct{}{}
	select {
	case sh := <-q.idle:
		return sh, nil
	default:
	}
	// Read-write, so one kind of session serves signing, key generation,
	// import and certificate storage alike.
	sh, err := q.p.OpenSession(q.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		<-q.sem
		return 0, wrap("open session", err)
	}
	return sh, nil
}

// put returns sh after use. err is the last error seen on it: a session
// the token invalidated (device removed, session closed) is dropped rather
// than handed to the next caller.
func (q *pool) put(sh pkcs11.SessionHandle, err error) {
	if code, ok := rv(err); ok && deviceGone(code) {
		q.p.CloseSession(sh) // best effort: it is probably gone already
	} else {
		q.idle <- sh // never blocks: see the invariant on sem
	}
	<-q.sem
}

// close closes the idle sessions. The caller makes sure no session is in
// use (Store.Close holds the store's write lock).
func (q *pool) close() {
	for {
		select {
		case sh := <-q.idle:
			q.p.CloseSession(sh)
		default:
			return
		}
	}
}
