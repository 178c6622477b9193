package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
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
		Chain: signingChain(key),
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

// MaxRootCertificates bounds the repositories one root key holds a
// certificate for: each is an object written to the token, and a client
// must not fill the token with certificates for made-up repositories.
const MaxRootCertificates = 100

// maxGUNBytes is the longest repository name ValidGUN accepts, checked
// first so an error never repeats a longer one.
const maxGUNBytes = 255

// minRootReuse is how long a stored root certificate must stay valid to be
// handed out again rather than replaced.
const minRootReuse = 365 * 24 * time.Hour

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

// Sign checks the policy, signs, and records the request.
func (k *Keyring) Sign(ctx context.Context, req SignRequest) (Signature, error) {
	ev := k.event(ctx, "sign")
	ev.KeyID, ev.Role, ev.GUN = req.KeyID, req.Role, req.GUN
	sig, md, err := k.sign(req)
	if md.Type != "" {
		ev.Metadata = &md
	}
	if err := k.record(ev, err); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

func (k *Keyring) sign(req SignRequest) (Signature, Metadata, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return Signature{}, Metadata{}, err
	}
	md, root, err := checkPolicy(e.info.KeyMeta, req)
	if err != nil {
		return Signature{}, md, err
	}
	var why []string
	var question string
	if root != nil {
		why, question = k.reviewRoot(e, req.GUN, md, root)
	}
	if e.info.Confirm {
		why = append(why, fmt.Sprintf("key %s (%s) is marked to be confirmed for every use", shortID(e.info.ID), e.info.Name))
		if question == "" {
			question = fmt.Sprintf("Sign %s metadata version %d for %s (role %s), expiring %s?\nkey: %s held here (%s, %s)\n",
				md.Type, md.Version, req.GUN, req.Role, md.Expires.UTC().Format("2006-01-02 15:04:05 MST"), shortID(e.info.ID), e.info.Backend, e.info.Name)
		}
	}
	if k.storeLocked(e.store) {
		return Signature{}, md, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if len(why) > 0 {
		if err := k.confirm(why, question); err != nil {
			return Signature{}, md, err
		}
		md.Confirmed = true
	}
	sig, method, err := signTUF(e.key, req.Data)
	if err != nil {
		return Signature{}, md, err
	}
	return Signature{KeyID: e.info.ID, Method: method, Signature: sig}, md, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// CertifyRoot returns the root certificate for req.GUN, making and storing
// it beside the key when there is none still valid.
func (k *Keyring) CertifyRoot(ctx context.Context, req CertifyRequest) ([]byte, error) {
	ev := k.event(ctx, "certify-root")
	ev.KeyID, ev.Role, ev.GUN = req.KeyID, string(RoleRoot), req.GUN
	der, err := k.certifyRoot(req)
	if err := k.record(ev, err); err != nil {
		return nil, err
	}
	return der, nil
}

func (k *Keyring) certifyRoot(req CertifyRequest) ([]byte, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return nil, err
	}
	if e.info.Role != RoleRoot {
		return nil, &DeniedError{Reason: fmt.Sprintf("key %s is a %s key, not a root key", shortID(e.info.ID), e.info.Role)}
	}
	if len(req.GUN) > maxGUNBytes {
		return nil, &DeniedError{Reason: fmt.Sprintf("a repository name has at most %d bytes, this one %d", maxGUNBytes, len(req.GUN))}
	}
	if !ValidGUN(req.GUN) {
		return nil, &DeniedError{Reason: fmt.Sprintf("%q is not a repository name", req.GUN)}
	}
	now := k.opts.Now()
	for _, c := range k.certsOfAllCopies(e) { // only certificates rootCerts vouched for
		if c.GUN != req.GUN {
			continue
		}
		// Reuse keeps the root key's ID stable for a repository; but not a
		// certificate about to expire, which would break the repository
		// soon after (notary warns within six months).
		if cert, err := x509.ParseCertificate(c.DER); err == nil && !now.Before(cert.NotBefore) && now.Add(minRootReuse).Before(cert.NotAfter) {
			return c.DER, nil
		}
	}
	if k.storeLocked(e.store) {
		return nil, fmt.Errorf("%w: %s needs its PIN; run `trust-agent unlock`", ErrLocked, e.store.Name())
	}
	if e.info.Confirm {
		why := fmt.Sprintf("key %s (%s) is marked to be confirmed for every use", shortID(e.info.ID), e.info.Name)
		q := fmt.Sprintf("Make a root certificate for %s with key %s held here (%s, %s)?\n", req.GUN, shortID(e.info.ID), e.info.Backend, e.info.Name)
		if err := k.confirm([]string{why}, q); err != nil {
			return nil, err
		}
	}
	// refreshMu makes counting and storing one step: two requests for
	// new repositories cannot both take the last place.
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	k.mu.RLock()
	if cur, ok := k.entries[e.info.ID]; ok {
		e = cur
	}
	k.mu.RUnlock()
	guns := map[string]bool{}
	for _, c := range e.info.Certs {
		guns[c.GUN] = true
	}
	if !guns[req.GUN] && len(guns) >= MaxRootCertificates {
		return nil, &DeniedError{Reason: fmt.Sprintf("root key %s already holds certificates for %d repositories, the limit per root key (each is an object on the token); certify %s with another root key (`trust-agent key generate NAME --role root`), or delete from the token the certificates of repositories this key no longer serves",
			shortID(e.info.ID), len(guns), req.GUN)}
	}
	der, err := rootCertificate(e.key, req.GUN, req.NotBefore, req.NotAfter, now)
	if err != nil {
		return nil, err
	}
	if err := e.store.StoreCertificate(e.key.Handle, req.GUN, der); err != nil {
		return nil, fmt.Errorf("agent: storing the root certificate for %s: %w", req.GUN, err)
	}
	// Every other copy of the key (root custody) keeps the certificate
	// too, so the repository's root.json names a key ID each copy knows.
	// Best effort: a copy that is locked or gone gets it when certified
	// again through it.
	for _, c := range k.copiesOf(e) {
		if c != e && !k.storeLocked(c.store) {
			if err := c.store.StoreCertificate(c.key.Handle, req.GUN, der); err != nil {
				k.logf("agent: could not store the root certificate for %s on %s: %v", req.GUN, c.store.Name(), err)
			}
		}
	}
	k.refreshHeld()
	return der, nil
}

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
		return fmt.Errorf("%w: unknown role %q; use root, targets, snapshot, delegation, notation or cosign", ErrInvalidRequest, m.Role)
	}
	if len(m.Name) > MaxNameBytes {
		return fmt.Errorf("%w: a key name has at most %d bytes, this one %d; choose a shorter name", ErrInvalidRequest, MaxNameBytes, len(m.Name))
	}
	if !ValidName(m.Name) {
		return fmt.Errorf("%w: key name %q must match ^[a-z0-9][a-z0-9_-]*$", ErrInvalidRequest, m.Name)
	}
	switch m.Role {
	case RoleNotation, RoleCosign: // optionally bound to one repository
		if m.GUN != "" && (len(m.GUN) > maxGUNBytes || !ValidGUN(m.GUN)) {
			return fmt.Errorf("%w: %q is not a repository name", ErrInvalidRequest, m.GUN)
		}
	case RoleTargets, RoleSnapshot:
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

// Attest returns the attestation chain of a key whose backend is an
// Attester. It needs no PIN, so it works while the agent is locked.
func (k *Keyring) Attest(ctx context.Context, req AttestRequest) ([][]byte, error) {
	ev := k.event(ctx, "attest")
	ev.KeyID = req.KeyID
	chain, err := k.attest(req, &ev)
	if err := k.record(ev, err); err != nil {
		return nil, err
	}
	return chain, nil
}

func (k *Keyring) attest(req AttestRequest, ev *Event) ([][]byte, error) {
	e, err := k.lookup(req.KeyID)
	if err != nil {
		return nil, err
	}
	ev.Role = string(e.info.Role)
	at, ok := e.store.(Attester)
	if !ok {
		return nil, fmt.Errorf("%w: keys on %s cannot be attested; only keys generated on a PIV card have an attestation", ErrInvalidRequest, e.store.Name())
	}
	chain, err := at.AttestationChain(e.key.Handle)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("agent: %s returned an empty attestation chain for key %s", e.store.Name(), shortID(e.info.ID))
	}
	return chain, nil
}

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

// Status reports the backends and counters.
func (k *Keyring) Status(ctx context.Context) (Status, error) {
	k.mu.RLock()
	st := Status{
		PID: os.Getpid(), Started: k.started, LockAt: k.lockAt,
		Signatures: k.signatures.Load(), Refusals: k.refusals.Load(),
	}
	m := k.metrics.snapshot()
	st.Metrics = &m
	for _, s := range k.opts.Stores {
		bs := BackendStatus{Name: s.Name(), Kind: s.Kind(), Keys: len(k.perStore[s])}
		if err := k.errs[s]; err != nil {
			bs.Error = err.Error()
		}
		st.Backends = append(st.Backends, bs)
	}
	k.mu.RUnlock()
	for i, s := range k.opts.Stores { // may ask the device: outside mu
		st.Backends[i].Locked = k.storeLocked(s)
		st.Locked = st.Locked || st.Backends[i].Locked
	}
	if h, ok := k.opts.Audit.(interface{ Head() AuditHead }); ok { // see audit verify
		head := h.Head()
		st.Audit = &head
	}
	return st, nil
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

// compile-time check that keys keep the crypto.Signer contract.
var _ crypto.Signer = Key{}

var _ RefusalRecorder = (*Keyring)(nil)

// RecordRefused writes the audit line of a request the socket layer
// refused before it reached a method.
func (k *Keyring) RecordRefused(ctx context.Context, op string, err error) {
	_ = k.record(k.event(ctx, op), err)
}
