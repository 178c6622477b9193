package agent

// The key index: which keys the backends hold, found by ID (the canonical
// key ID and, for root keys, their certificates' IDs), refreshed from the
// backends; List.

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
)

// refresh re-reads every backend and swaps the new index in.
func (k *Keyring) refresh() {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	k.refreshHeld()
}

// refreshHeld is refresh for a caller that holds refreshMu. A backend that
// cannot be read keeps the keys it had: a card busy in another program is
// not an empty card, and its keys should fail as unavailable, not unknown.
func (k *Keyring) refreshHeld() {
	k.mu.RLock()
	old := k.perStore
	k.mu.RUnlock()
	per := map[KeyStore][]*entry{}
	errs := map[KeyStore]error{}
	for _, s := range k.opts.Stores {
		keys, err := s.Keys()
		if err != nil {
			errs[s], per[s] = err, old[s]
			continue
		}
		for _, key := range keys {
			e, err := newEntry(s, key)
			if err != nil {
				errs[s] = err
				continue
			}
			per[s] = append(per[s], e)
		}
	}
	k.mu.Lock()
	k.perStore, k.errs = per, errs
	k.reindexLocked()
	k.mu.Unlock()
}

// reindexLocked rebuilds entries and list from perStore. Caller holds mu.
func (k *Keyring) reindexLocked() {
	k.entries = map[string]*entry{}
	k.copies = map[string][]*entry{}
	k.list = nil
	for _, s := range k.opts.Stores {
		for _, e := range k.perStore[s] {
			k.list = append(k.list, e)
			if _, seen := k.entries[e.info.ID]; !seen {
				k.entries[e.info.ID] = e
			}
			k.copies[e.info.ID] = append(k.copies[e.info.ID], e)
			for _, c := range e.info.Certs {
				if id := certKeyID(e.info.Algorithm, c.DER); k.entries[id] == nil {
					k.entries[id] = e
				}
			}
		}
	}
}

func newEntry(s KeyStore, key Key) (*entry, error) {
	id, alg, der, err := publicKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("agent: key at %s: %w", key.Location, err)
	}
	return &entry{store: s, key: key, info: KeyInfo{
		ID: id, KeyMeta: key.Meta, Algorithm: alg, PublicKey: der,
		Location: key.Location, Backend: s.Name(), Certs: rootCerts(key),
		Chain: signingChain(key), Abilities: abilitiesOf(s),
	}}, nil
}

// rootCerts keeps the certificates stored beside key that are what
// CertifyRoot makes: self-signed by this very key, for the repository they
// are stored under. Anything else on the token (a certificate planted
// beside the key, for another key) is ignored, so it can never be handed
// to a client as this key's root certificate.
func rootCerts(key Key) []Cert {
	var out []Cert
	for _, c := range key.Certs {
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil || cert.Subject.CommonName != c.GUN || !ValidGUN(c.GUN) {
			continue
		}
		if !publicKeysEqual(key.Public(), cert.PublicKey) {
			continue
		}
		if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
			continue
		}
		out = append(out, c)
	}
	return out
}

// lookup finds a key by canonical or certificate ID, re-reading the stores
// once on a miss: a card may have been plugged in since.
func (k *Keyring) lookup(id string) (*entry, error) {
	k.mu.RLock()
	e, ok := k.entries[id]
	k.mu.RUnlock()
	if ok {
		return k.usableCopy(e), nil
	}
	k.refresh()
	k.mu.RLock()
	e, ok = k.entries[id]
	k.mu.RUnlock()
	if ok {
		return k.usableCopy(e), nil
	}
	return nil, fmt.Errorf("%w: no key with ID %s; run `trust-agent key list` to see the agent's keys", ErrNotFound, shortID(id))
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// List returns every key, re-reading the stores.
func (k *Keyring) List(ctx context.Context) ([]KeyInfo, error) {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KeyInfo, 0, len(k.list))
	for _, e := range k.list {
		out = append(out, e.info)
	}
	return out, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// heldOn returns the entry of key id on backend s, if s holds it.
func (k *Keyring) heldOn(s KeyStore, id string) *entry {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, e := range k.perStore[s] {
		if e.info.ID == id {
			return e
		}
	}
	return nil
}
