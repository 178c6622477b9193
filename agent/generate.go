package agent

// New keys: Generate and Import, the checks of a key's metadata, and the
// choice of backend.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"
)

// Generate makes a key on the chosen backend.
func (k *Keyring) Generate(ctx context.Context, req GenerateRequest) (KeyInfo, error) {
	ev := k.event(ctx, "generate")
	ev.Role, ev.GUN = string(req.Role), req.GUN
	if len(req.Copies) > 0 {
		info, err := k.generateCopies(req)
		ev.KeyID = info.ID
		if err := k.record(ev, err); err != nil {
			return KeyInfo{}, err
		}
		return info, nil
	}
	info, err := k.addKey(req.KeyMeta, req.Backend, func(s KeyStore) (Key, error) {
		alg := req.Algorithm
		if alg == "" {
			alg = AlgorithmECDSA
		}
		switch {
		case alg == AlgorithmECDSA && (req.Bits == 0 || req.Bits == 256 || req.Bits == 384):
		case alg == AlgorithmRSA && (req.Bits == 0 || req.Bits == 3072 || req.Bits == 4096):
		default:
			return Key{}, fmt.Errorf("%w: algorithm %q with %d bits; use ecdsa (256 or 384 bits: P-256, P-384) or rsa with 3072 or 4096 bits", ErrInvalidRequest, alg, req.Bits)
		}
		if req.Policy == (KeyPolicy{}) {
			return s.Generate(req.KeyMeta, alg, req.Bits)
		}
		if !req.Policy.Valid() {
			return Key{}, fmt.Errorf("%w: PIN policy %q / touch policy %q; use once|always and never|cached|always", ErrInvalidRequest, req.Policy.PIN, req.Policy.Touch)
		}
		pg, ok := s.(PolicyGenerator)
		if !ok {
			return Key{}, fmt.Errorf("%w: %s has no PIN or touch policies; they exist on PIV cards", ErrInvalidRequest, s.Name())
		}
		return pg.GenerateWithPolicy(req.KeyMeta, alg, req.Bits, req.Policy)
	})
	ev.KeyID = info.ID
	if err := k.record(ev, err); err != nil {
		return KeyInfo{}, err
	}
	return info, nil
}

// Import moves a PKCS#8 private key into the chosen backend.
func (k *Keyring) Import(ctx context.Context, req ImportRequest) (KeyInfo, error) {
	ev := k.event(ctx, "import")
	ev.Role, ev.GUN = string(req.Role), req.GUN
	info, err := k.addKey(req.KeyMeta, req.Backend, func(s KeyStore) (Key, error) {
		priv, err := x509.ParsePKCS8PrivateKey(req.PKCS8)
		clear(req.PKCS8) // the agent keeps no copy of a key it moved into hardware
		if err != nil {
			return Key{}, fmt.Errorf("%w: the key is not PKCS#8: %v", ErrInvalidRequest, err)
		}
		defer zeroKey(priv)
		if signer, ok := priv.(crypto.Signer); ok {
			if id, _, _, err := publicKeyID(signer.Public()); err == nil {
				if held := k.heldOn(s, id); held != nil {
					return Key{}, fmt.Errorf("%w: %s already holds this key (ID %s, %s %s); it is not loaded twice", ErrInvalidRequest, s.Name(), id, held.info.Role, held.info.Name)
				}
			}
		}
		switch p := priv.(type) {
		case *ecdsa.PrivateKey:
			return s.Import(req.KeyMeta, p)
		case *rsa.PrivateKey:
			return s.Import(req.KeyMeta, p)
		}
		return Key{}, fmt.Errorf("%w: %T keys are not supported; use ECDSA or RSA", ErrInvalidRequest, priv)
	})
	ev.KeyID = info.ID
	if err := k.record(ev, err); err != nil {
		return KeyInfo{}, err
	}
	return info, nil
}

func (k *Keyring) addKey(meta KeyMeta, backend string, make func(KeyStore) (Key, error)) (KeyInfo, error) {
	if err := validateMeta(meta); err != nil {
		return KeyInfo{}, err
	}
	// Holding refreshMu keeps a concurrent refresh from swapping in a
	// listing read before the new key existed, and makes the name check
	// and the generation one step.
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	k.refreshHeld()
	if err := k.nameFree(meta); err != nil {
		return KeyInfo{}, err
	}
	s, err := k.pickStore(backend, false)
	if err != nil {
		return KeyInfo{}, err
	}
	key, err := make(s)
	if err != nil {
		return KeyInfo{}, err
	}
	e, err := newEntry(s, key)
	if err != nil {
		return KeyInfo{}, err
	}
	k.mu.Lock()
	k.perStore[s] = append(k.perStore[s], e)
	k.reindexLocked()
	k.mu.Unlock()
	return e.info, nil
}

// nameFree refuses a second delegation key with the same signer name.
// The caller holds refreshMu.
func (k *Keyring) nameFree(meta KeyMeta) error {
	if meta.Role != RoleDelegation {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, e := range k.list {
		if e.info.Role == RoleDelegation && e.info.Name == meta.Name {
			return fmt.Errorf("%w: a delegation key named %s already exists (ID %s)", ErrInvalidRequest, meta.Name, e.info.ID)
		}
	}
	return nil
}

func validateMeta(m KeyMeta) error {
	if !m.Role.Valid() {
		return fmt.Errorf("%w: unknown role %q; use one of %s", ErrInvalidRequest, m.Role, joinRoles(Roles(), ", "))
	}
	if len(m.Name) > MaxNameBytes {
		return fmt.Errorf("%w: a key name has at most %d bytes, this one %d; choose a shorter name", ErrInvalidRequest, MaxNameBytes, len(m.Name))
	}
	if !ValidName(m.Name) {
		return fmt.Errorf("%w: key name %q must match ^[a-z0-9][a-z0-9_-]*$", ErrInvalidRequest, m.Name)
	}
	switch {
	case m.Role.ForFormat(): // optionally bound to one repository
		if m.GUN != "" && (len(m.GUN) > maxGUNBytes || !ValidGUN(m.GUN)) {
			return fmt.Errorf("%w: %q is not a repository name", ErrInvalidRequest, m.GUN)
		}
	case m.Role == RoleTargets || m.Role == RoleSnapshot:
		if len(m.GUN) > maxGUNBytes {
			return fmt.Errorf("%w: a repository name has at most %d bytes, this one %d", ErrInvalidRequest, maxGUNBytes, len(m.GUN))
		}
		if !ValidGUN(m.GUN) {
			return fmt.Errorf("%w: a %s key is bound to a repository; %q is not a repository name", ErrInvalidRequest, m.Role, m.GUN)
		}
	default:
		if m.GUN != "" {
			return fmt.Errorf("%w: a %s key is not bound to a repository", ErrInvalidRequest, m.Role)
		}
	}
	return nil
}

// backendName completes a backend name given without its serial
// ("pkcs11:token=dct" for "pkcs11:token=dct;serial=..."), when exactly one
// backend has that prefix; otherwise it returns name unchanged.
func (k *Keyring) backendName(name string) string {
	var found []string
	for _, s := range k.opts.Stores {
		if s.Name() == name {
			return name
		}
		if strings.HasPrefix(s.Name(), name+";") {
			found = append(found, s.Name())
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return name
}

// pickStore chooses a backend by name, or the first one fit for the job:
// unlocked for making keys, locked for Unlock. It asks the backends, so the
// caller must not hold mu.
func (k *Keyring) pickStore(name string, wantLocked bool) (KeyStore, error) {
	if len(k.opts.Stores) == 0 {
		return nil, fmt.Errorf("%w: the agent has no backends; start it with --pkcs11 URI or --piv SERIAL", ErrDeviceUnavailable)
	}
	if name != "" {
		name = k.backendName(name)
		for _, s := range k.opts.Stores {
			if s.Name() != name {
				continue
			}
			if !wantLocked && k.storeLocked(s) {
				return nil, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, name)
			}
			return s, nil
		}
		return nil, fmt.Errorf("%w: no backend named %s; run `trust-agent status` to see them", ErrNotFound, name)
	}
	var fit []string
	var first KeyStore
	for _, s := range k.opts.Stores {
		if k.storeLocked(s) == wantLocked {
			if first == nil {
				first = s
			}
			fit = append(fit, s.Name())
		}
	}
	switch {
	case first == nil && wantLocked:
		return nil, fmt.Errorf("%w: no backend is locked", ErrInvalidRequest)
	case first == nil:
		return nil, fmt.Errorf("%w: every backend is locked; run `trust-agent unlock`", ErrLocked)
	case wantLocked && len(fit) > 1:
		return nil, fmt.Errorf("%w: %d backends are locked (%s); name one", ErrInvalidRequest, len(fit), strings.Join(fit, ", "))
	}
	return first, nil
}

// zeroKey overwrites the secret numbers of a software key the agent has
// moved into hardware. Best effort: math/big and crypto/* may have copied
// them (precomputed values, internal caches) where this cannot reach.
func zeroKey(priv any) {
	wipe := func(n *big.Int) {
		if n != nil {
			clear(n.Bits())
			n.SetInt64(0)
		}
	}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		wipe(p.D)
	case *rsa.PrivateKey:
		wipe(p.D)
		for _, q := range p.Primes {
			wipe(q)
		}
		wipe(p.Precomputed.Dp)
		wipe(p.Precomputed.Dq)
		wipe(p.Precomputed.Qinv)
	}
}

// joinRoles names roles for a message, joined by sep.
func joinRoles(roles []Role, sep string) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, sep)
}
