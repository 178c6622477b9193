package agent

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure New.
type Options struct {
	// Stores are the hardware backends, in the order Generate prefers them.
	Stores []KeyStore
	// Audit records every request; nil records nothing.
	Audit Auditor
	// Lifetime, when positive, locks the agent that long after each unlock
	// (and after New when a backend starts unlocked).
	Lifetime time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Askpass is the program that asks a person to confirm a signature (a
	// Root that changes who holds the repository, a key marked Confirm);
	// empty refuses those. Set only by cmd, from TRUST_AGENT_ASKPASS in the
	// agent's own environment at start: no request can choose it.
	Askpass string
	// AskpassTimeout is how long a person has to answer; 0 means 2 minutes.
	AskpassTimeout time.Duration
}

// Keyring is the agent: a registry of hardware keys with policy, lock and
// audit. It implements Agent.
//
// All methods are safe to call from multiple goroutines. Signatures run in
// parallel and never wait for another backend: mu guards only the index
// and is never held during backend I/O; refreshMu makes re-reading the
// backends one reader at a time; lockMu orders lock, unlock and the
// lifetime timer. Backends serialise per device as they need to.
type Keyring struct {
	opts    Options
	started time.Time

	refreshMu sync.Mutex // held while the backends are read or a key is added
	lockMu    sync.Mutex // held by Lock, Unlock and the lifetime timer

	mu       sync.RWMutex
	perStore map[KeyStore][]*entry // what each backend last said
	errs     map[KeyStore]error    // why a backend could not be read
	entries  map[string]*entry     // by canonical key ID and by every root-certificate ID
	copies   map[string][]*entry   // by canonical key ID: every backend holding the key (root custody)
	list     []*entry              // each key once, in backend order
	lockAt   time.Time
	timer    *time.Timer
	// locked holds the backends the agent locked (Lock, the lifetime)
	// and did not unlock since: they refuse to sign whatever the backend
	// itself says, so the lock does not rest on the backend's logout.
	locked map[KeyStore]bool
	gen    uint64 // bumped by every lock and re-arm: a timer that fired late sees it moved

	signatures atomic.Uint64
	refusals   atomic.Uint64
	metrics    metrics

	pins     throttle  // wrong PINs in a row, per backend
	confirms confirmer // one askpass question at a time
}

var _ Agent = (*Keyring)(nil)

type entry struct {
	info  KeyInfo
	key   Key
	store KeyStore
}

// everyUse is the reason a key marked --confirm gives for each use (as
// ssh-add -c), or nil when it is not marked.
func (e *entry) everyUse() []string {
	if !e.info.Confirm {
		return nil
	}
	return []string{fmt.Sprintf("key %s (%s) is marked to be confirmed for every use", shortID(e.info.ID), e.info.Name)}
}

// New returns an agent over opts.Stores. It reads every store's keys once;
// a store that fails is reported by Status and retried on the next List.
func New(opts Options) *Keyring {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keyring{opts: opts, started: opts.Now(), perStore: map[KeyStore][]*entry{}}
	k.refresh()
	k.mu.Lock()
	k.armLifetimeLocked()
	k.mu.Unlock()
	return k
}

// Close closes every backend.
func (k *Keyring) Close() error {
	k.mu.Lock()
	k.gen++
	if k.timer != nil {
		k.timer.Stop()
	}
	k.mu.Unlock()
	var errs []error
	for _, s := range k.opts.Stores {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (k *Keyring) event(ctx context.Context, op string) Event {
	ev := Event{Time: k.opts.Now().UTC(), Op: op}
	if p, ok := PeerFrom(ctx); ok {
		ev.Peer = &p
	}
	return ev
}

// record writes ev with the outcome err and returns err, or the audit
// failure when the log cannot be written: a request the log cannot show
// does not succeed. Every field a client chose is bounded first (see
// audit_bound.go), so whatever the Auditor, no request writes a long line.
func (k *Keyring) record(ev Event, err error) error {
	ev.Result = "ok"
	if err != nil {
		ev.Result, ev.Error = "refused", err.Error()
	}
	if k.opts.Audit != nil {
		if aerr := k.opts.Audit.Record(ev.bounded()); aerr != nil {
			err = errors.Join(err, fmt.Errorf("agent: refusing: %w", aerr))
		}
	}
	k.metrics.observe(ev.Op, ev.Result, ev.Role, k.opts.Now().Sub(ev.Time), err)
	if ev.Op == "sign" { // counted as the client sees it
		if err == nil {
			k.signatures.Add(1)
		} else {
			k.refusals.Add(1)
		}
	}
	return err
}

// compile-time check that keys keep the crypto.Signer contract.
var _ crypto.Signer = Key{}

var _ RefusalRecorder = (*Keyring)(nil)

// RecordRefused writes the audit line of a request the socket layer
// refused before it reached a method.
func (k *Keyring) RecordRefused(ctx context.Context, op string, err error) {
	_ = k.record(k.event(ctx, op), err)
}
