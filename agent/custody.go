package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"slices"
)

// Root custody: one key on several backends. A root key that lives on one
// token is lost with it, and with it the repositories it serves. A key
// generated with GenerateRequest.Copies is made in the agent's memory,
// written into each backend as a sensitive, non-extractable object, and
// wiped from memory: it never touches disk, and from then on no backend
// lets it out. Signing uses any copy whose backend is unlocked.
//
// The other path, wrapping the key out of one token into another
// (CKM_AES_KEY_WRAP_PAD), keeps the key inside hardware for its whole
// life, which is the stronger guarantee; it needs both tokens to support
// it and a shared wrapping key, and SoftHSM tokens in separate processes
// do not share one, so this agent uses the memory path. See docs/DESIGN.md.

// Deleter is a KeyStore that can remove a key and the objects stored with
// it (its public key, its root certificates).
type Deleter interface {
	DeleteKey(handle []byte) error
}

// copiesOf returns every backend's copy of e's key (e included).
func (k *Keyring) copiesOf(e *entry) []*entry {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if cs := k.copies[e.info.ID]; len(cs) > 0 {
		return slices.Clone(cs)
	}
	return []*entry{e}
}

// usableCopy returns a copy of e's key that can sign now: e itself when
// its backend is unlocked and readable, else another copy that is.
func (k *Keyring) usableCopy(e *entry) *entry {
	cs := k.copiesOf(e)
	if len(cs) < 2 {
		return e
	}
	usable := func(c *entry) bool {
		k.mu.RLock()
		defer k.mu.RUnlock()
		return k.errs[c.store] == nil && !k.locked[c.store]
	}
	for _, c := range cs {
		if usable(c) && !c.store.Locked() {
			return c
		}
	}
	return e
}

// certsOfAllCopies are the root certificates stored beside any copy of
// e's key.
func (k *Keyring) certsOfAllCopies(e *entry) []Cert {
	var out []Cert
	for _, c := range k.copiesOf(e) {
		out = append(out, c.info.Certs...)
	}
	return out
}

func (k *Keyring) logf(format string, args ...any) {
	slog.Default().Warn(fmt.Sprintf(format, args...))
}

// generateCopies makes one key in memory and writes it into every backend
// named by req.Backend and req.Copies, then wipes it. Every backend must be
// named and unlocked before anything is made; a backend that refuses the
// key midway leaves the copies already written (they are reported), since
// removing them could lose the only good copy.
func (k *Keyring) generateCopies(req GenerateRequest) (KeyInfo, error) {
	if err := validateMeta(req.KeyMeta); err != nil {
		return KeyInfo{}, err
	}
	names := append([]string{req.Backend}, req.Copies...)
	if req.Backend == "" {
		return KeyInfo{}, fmt.Errorf("%w: a key with copies names every backend it goes to: --backend A --copy-to B", ErrInvalidRequest)
	}
	if len(names) > maxCopies {
		return KeyInfo{}, fmt.Errorf("%w: %d backends; a key is held by at most %d", ErrInvalidRequest, len(names), maxCopies)
	}
	var stores []KeyStore
	for _, n := range names {
		s, err := k.pickStore(n, false)
		if err != nil {
			return KeyInfo{}, err
		}
		if slices.Contains(stores, s) {
			return KeyInfo{}, fmt.Errorf("%w: backend %s named twice; each copy goes to another backend", ErrInvalidRequest, n)
		}
		if k.storeLocked(s) {
			return KeyInfo{}, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock --backend %s`", ErrLocked, n, n)
		}
		stores = append(stores, s)
	}
	if req.Policy != (KeyPolicy{}) {
		return KeyInfo{}, fmt.Errorf("%w: PIN and touch policies are set when a key is made on a card; a key with copies is made in memory and imported", ErrInvalidRequest)
	}
	priv, err := newSoftwareKey(req.Algorithm, req.Bits)
	if err != nil {
		return KeyInfo{}, err
	}
	defer zeroKey(priv)
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	k.refreshHeld()
	if err := k.nameFree(req.KeyMeta); err != nil {
		return KeyInfo{}, err
	}
	var first KeyInfo
	var made []string
	for i, s := range stores {
		key, err := s.Import(req.KeyMeta, priv)
		if err != nil {
			if len(made) > 0 {
				return KeyInfo{}, fmt.Errorf("agent: the key is on %v but %s refused it: %w", made, s.Name(), err)
			}
			return KeyInfo{}, err
		}
		e, err := newEntry(s, key)
		if err != nil {
			return KeyInfo{}, err
		}
		made = append(made, s.Name())
		k.mu.Lock()
		k.perStore[s] = append(k.perStore[s], e)
		k.reindexLocked()
		k.mu.Unlock()
		if i == 0 {
			first = e.info
		}
	}
	return first, nil
}

// maxCopies bounds how many backends one key is written to.
const maxCopies = 8

// newSoftwareKey makes a key in memory for generateCopies.
func newSoftwareKey(alg string, bits int) (crypto.Signer, error) {
	switch {
	case (alg == "" || alg == AlgorithmECDSA) && (bits == 0 || bits == 256):
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case (alg == "" || alg == AlgorithmECDSA) && bits == 384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == AlgorithmRSA && (bits == 0 || bits == 3072 || bits == 4096):
		if bits == 0 {
			bits = 3072
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("%w: algorithm %q with %d bits; use ecdsa (256 or 384 bits) or rsa with 3072 or 4096 bits", ErrInvalidRequest, alg, bits)
}

// Delete removes a key from hardware: from req.Backend only, or from every
// backend that holds it. Deleting cannot be undone, and a local process
// could otherwise destroy a repository's root of trust, so every delete is
// confirmed by a person through the askpass program, whatever the key.
func (k *Keyring) Delete(ctx context.Context, req DeleteRequest) error {
	ev := k.event(ctx, "delete")
	ev.KeyID = req.KeyID
	err := k.delete(req, &ev)
	return k.record(ev, err)
}

func (k *Keyring) delete(req DeleteRequest, ev *Event) error {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return err
	}
	ev.Role = string(e.info.Role)
	if req.Backend != "" {
		req.Backend = k.backendName(req.Backend)
	}
	var targets []*entry
	for _, c := range k.copiesOf(e) {
		if req.Backend == "" || c.store.Name() == req.Backend {
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("%w: key %s is not on backend %s", ErrNotFound, shortID(e.info.ID), req.Backend)
	}
	var where []string
	for _, c := range targets {
		if _, ok := c.store.(Deleter); !ok {
			return fmt.Errorf("%w: keys on %s cannot be deleted by trust-agent (a PIV slot is emptied by overwriting it, or with the card's own tools)", ErrInvalidRequest, c.store.Name())
		}
		if k.storeLocked(c.store) {
			return fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, c.store.Name())
		}
		where = append(where, c.store.Name())
	}
	left := len(k.copiesOf(e)) - len(targets)
	q := fmt.Sprintf("Delete the %s key %s (%s) from %v? %d other copies remain. This cannot be undone.\n", e.info.Role, shortID(e.info.ID), e.info.Name, where, left)
	if err := k.confirm([]string{"deleting a key"}, q); err != nil {
		return err
	}
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	for _, c := range targets {
		if err := c.store.(Deleter).DeleteKey(c.key.Handle); err != nil {
			k.refreshHeld()
			return fmt.Errorf("agent: deleting key %s from %s: %w", shortID(e.info.ID), c.store.Name(), err)
		}
	}
	k.refreshHeld()
	return nil
}
