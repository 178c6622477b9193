package agent

// Lock and unlock: PINs, the backends' login state and --lifetime.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lock logs every backend out.
func (k *Keyring) Lock(ctx context.Context) error {
	k.lockMu.Lock()
	err := k.lockHeld()
	k.lockMu.Unlock()
	return k.record(k.event(ctx, "lock"), err)
}

// lockHeld disarms the lifetime and logs the backends out; the caller
// holds lockMu.
func (k *Keyring) lockHeld() error {
	k.mu.Lock()
	k.gen++
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.lockAt = time.Time{}
	if k.locked == nil {
		k.locked = map[KeyStore]bool{}
	}
	for _, s := range k.opts.Stores {
		k.locked[s] = true // before Logout: no signature starts in between
	}
	k.mu.Unlock()
	var errs []error
	for _, s := range k.opts.Stores {
		if err := s.Logout(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// storeLocked reports whether s needs its PIN: because the agent locked it
// and it was not unlocked since, whatever s says, or because s says so.
// It may ask the device, so the caller must not hold mu.
func (k *Keyring) storeLocked(s KeyStore) bool {
	k.mu.RLock()
	locked := k.locked[s]
	k.mu.RUnlock()
	return locked || s.Locked()
}

// Unlock logs one backend in. After FreePINTries wrong PINs in a row for a
// backend, each further try must wait twice as long as the last (up to
// maxPINWait); a try before then is refused with *ThrottledError without
// reaching the backend.
func (k *Keyring) Unlock(ctx context.Context, req UnlockRequest) error {
	ev := k.event(ctx, "unlock")
	err := k.unlock(req)
	return k.record(ev, err)
}

func (k *Keyring) unlock(req UnlockRequest) error {
	defer clear(req.PIN)
	k.lockMu.Lock()
	defer k.lockMu.Unlock()
	s, err := k.pickStore(req.Backend, true)
	if err != nil {
		return err
	}
	if len(req.PIN) == 0 {
		return fmt.Errorf("%w: empty PIN", ErrInvalidRequest)
	}
	// Too soon after wrong PINs: refused here, so the token never sees
	// the PIN and no try is used. lockMu makes check, login and outcome
	// one step.
	if err := k.pins.check(s, k.opts.Now()); err != nil {
		return err
	}
	if err := k.pins.done(s, k.opts.Now(), s.Login(req.PIN)); err != nil {
		return err
	}
	k.mu.Lock()
	delete(k.locked, s)
	k.armLifetimeLocked()
	k.mu.Unlock()
	k.refresh() // keys a backend hides until login, and metadata it vouches for once logged in
	return nil
}

// armLifetimeLocked (re)starts the --lifetime timer. Caller holds mu.
func (k *Keyring) armLifetimeLocked() {
	if k.opts.Lifetime <= 0 {
		return
	}
	if k.timer != nil {
		k.timer.Stop()
	}
	k.gen++
	gen := k.gen
	k.lockAt = k.opts.Now().Add(k.opts.Lifetime)
	k.timer = time.AfterFunc(k.opts.Lifetime, func() { k.lifetimeExpired(gen) })
}

// lifetimeExpired locks the agent, unless the timer that fired is stale: a
// Stop cannot recall a callback already running, and an unlock may have
// re-armed the timer while this one waited for lockMu.
func (k *Keyring) lifetimeExpired(gen uint64) {
	k.lockMu.Lock()
	defer k.lockMu.Unlock()
	k.mu.RLock()
	current := k.gen == gen
	k.mu.RUnlock()
	if !current {
		return
	}
	_ = k.record(Event{Time: k.opts.Now().UTC(), Op: "lock", Reason: "lifetime expired"}, k.lockHeld())
}
