package agent

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// PIN throttle: a local process that may talk to the agent must not be able
// to guess PINs at the token's speed (a SoftHSM token has no retry counter
// at all, and a PIV card's counter is the only thing between a guesser and
// a blocked card).
const (
	// FreePINTries is how many wrong PINs in a row a backend accepts at
	// full speed: enough for a user's typos.
	FreePINTries = 3
	// firstPINWait is the wait after the FreePINTries-th wrong PIN in a
	// row; each further wrong PIN doubles it.
	firstPINWait = time.Second
	// maxPINWait caps the wait, so a user who forgot the PIN for a while
	// can still unlock within a minute of remembering it.
	maxPINWait = time.Minute
)

// throttle counts wrong PINs in a row per backend and makes each try after
// the first FreePINTries wait twice as long as the last. A try before the
// wait is over is refused without reaching the backend, so it uses no try
// on the token. The clock is the Keyring's (Options.Now).
//
// Safe for concurrent use; Keyring.unlock also holds lockMu around a
// check, the login and the outcome, so two unlocks cannot both pass one
// check.
type throttle struct {
	mu sync.Mutex
	m  map[KeyStore]*pinTries
}

// pinTries is one backend's record of wrong PINs in a row.
type pinTries struct {
	wrong   int           // wrong PINs in a row
	wait    time.Duration // the wait the last wrong PIN imposed
	next    time.Time     // no try before this
	retries int           // what the token said after the last wrong PIN
}

// check refuses a try on s before its wait is over, with *ThrottledError.
func (t *throttle) check(s KeyStore, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[s]
	if p == nil || !now.Before(p.next) {
		return nil
	}
	return &ThrottledError{RetryAt: p.next, Wait: p.next.Sub(now), Retries: p.retries}
}

// done records the outcome err of a try on s at now. A wrong PIN counts;
// the right one starts the count again; anything else (the device gone,
// an empty PIN) says nothing about the PIN and changes nothing. It returns
// err, telling the user of the wait a wrong PIN starts.
func (t *throttle) done(s KeyStore, now time.Time, err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		delete(t.m, s)
		return nil
	}
	if !errors.Is(err, ErrPINIncorrect) {
		return err
	}
	if t.m == nil {
		t.m = map[KeyStore]*pinTries{}
	}
	p := t.m[s]
	if p == nil {
		p = &pinTries{}
		t.m[s] = p
	}
	p.wrong++
	p.retries = -1
	if pe := (*PINError)(nil); errors.As(err, &pe) {
		p.retries = pe.Retries
	}
	if p.wrong < FreePINTries {
		return err
	}
	switch {
	case p.wait == 0:
		p.wait = firstPINWait
	default:
		p.wait = min(2*p.wait, maxPINWait)
	}
	p.next = now.Add(p.wait)
	return &waitError{err: err, wrong: p.wrong, wait: p.wait, next: p.next}
}

// waitError is a wrong PIN that started a wait: its text says so, and it
// unwraps to the backend's error (a *PINError).
type waitError struct {
	err   error
	wrong int
	wait  time.Duration
	next  time.Time
}

func (e *waitError) Error() string {
	return fmt.Sprintf("%v; %d wrong PINs in a row: the next try is accepted after %s, at %s UTC",
		e.err, e.wrong, e.wait, e.next.UTC().Format(time.TimeOnly))
}

func (e *waitError) Unwrap() error { return e.err }
