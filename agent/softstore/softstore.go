// Package softstore is an agent.KeyStore of software keys, for tests only:
// it lets the conformance suite (agenttest) and tests of code above the
// agent run the real agent, its policy included, without SoftHSM or a card.
// Its keys live in memory and die with it. No binary imports it: a key in
// software is exactly what trust-agent exists to avoid.
//
// It behaves as a token does where the suite can tell: it is locked until
// Login with its PIN, a wrong PIN says how many tries are left and blocks
// at zero, its signers refuse to sign while it is locked, and it deletes
// keys. It cannot attest keys and never waits for a touch.
//
// # Concurrency
//
// All methods are safe to call from multiple goroutines.
package softstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/trust-agent/trust-agent/agent"
)

var (
	_ agent.KeyStore        = (*Store)(nil)
	_ agent.Deleter         = (*Store)(nil)
	_ agent.AbilityReporter = (*Store)(nil)
)

// maxPINTries is how many wrong PINs in a row block the store, as a
// token's PIN counter does.
const maxPINTries = 3

// Store is a software KeyStore.
type Store struct {
	name string
	pin  []byte

	mu       sync.Mutex
	keys     []agent.Key
	next     int
	loggedIn bool
	tries    int // wrong PINs left
}

// New returns a locked store named "soft:NAME" whose PIN is pin.
func New(name, pin string) *Store {
	return &Store{name: "soft:" + name, pin: []byte(pin), tries: maxPINTries}
}

func (s *Store) Name() string { return s.name }
func (s *Store) Kind() string { return "soft" }

// Abilities: deletes and imports keys, makes ECDSA and RSA keys.
func (s *Store) Abilities() agent.Abilities {
	return agent.Abilities{Delete: true, Import: true, Algorithms: []string{agent.AlgorithmECDSA, agent.AlgorithmRSA}}
}

func (s *Store) Keys() ([]agent.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	for i := range out {
		out[i].Certs = slices.Clone(out[i].Certs)
	}
	return out, nil
}

func (s *Store) Generate(meta agent.KeyMeta, algorithm string, bits int) (agent.Key, error) {
	if s.Locked() {
		return agent.Key{}, fmt.Errorf("softstore: generating a key needs the PIN: %w", agent.ErrLocked)
	}
	var priv crypto.Signer
	var err error
	switch algorithm {
	case agent.AlgorithmRSA:
		switch bits {
		case 0:
			bits = 3072
		case 2048, 3072, 4096:
		default:
			return agent.Key{}, fmt.Errorf("softstore: RSA keys are 2048, 3072 or 4096 bits, not %d: %w", bits, agent.ErrInvalidRequest)
		}
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	case "", agent.AlgorithmECDSA:
		curve := elliptic.P256()
		switch bits {
		case 0, 256:
		case 384:
			curve = elliptic.P384()
		default:
			return agent.Key{}, fmt.Errorf("softstore: ECDSA keys are P-256 or P-384, not %d bits: %w", bits, agent.ErrInvalidRequest)
		}
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	default:
		return agent.Key{}, fmt.Errorf("softstore: unknown algorithm %q: %w", algorithm, agent.ErrInvalidRequest)
	}
	if err != nil {
		return agent.Key{}, fmt.Errorf("softstore: %w", err)
	}
	return s.add(meta, priv), nil
}

// Import keeps a copy of priv: the agent wipes the key it hands over, as
// hardware would have taken its own copy.
func (s *Store) Import(meta agent.KeyMeta, priv crypto.Signer) (agent.Key, error) {
	if s.Locked() {
		return agent.Key{}, fmt.Errorf("softstore: importing a key needs the PIN: %w", agent.ErrLocked)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return agent.Key{}, fmt.Errorf("softstore: %v: %w", err, agent.ErrInvalidRequest)
	}
	cp, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return agent.Key{}, fmt.Errorf("softstore: %w", err)
	}
	return s.add(meta, cp.(crypto.Signer)), nil
}

func (s *Store) add(meta agent.KeyMeta, priv crypto.Signer) agent.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	handle := []byte(strconv.Itoa(s.next))
	k := agent.Key{Signer: &signer{s: s, priv: priv}, Handle: handle, Meta: meta, Location: s.name + ";id=" + string(handle)}
	s.keys = append(s.keys, k)
	return k
}

// signer refuses to sign while its store is locked, as a token does.
type signer struct {
	s    *Store
	priv crypto.Signer
}

func (k *signer) Public() crypto.PublicKey { return k.priv.Public() }

func (k *signer) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.s.Locked() {
		return nil, fmt.Errorf("softstore: signing needs the PIN: %w", agent.ErrLocked)
	}
	return k.priv.Sign(r, digest, opts)
}

func (s *Store) StoreCertificate(id []byte, gun string, der []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if string(s.keys[i].Handle) == string(id) {
			s.keys[i].Certs = append(s.keys[i].Certs, agent.Cert{GUN: gun, DER: slices.Clone(der)})
			return nil
		}
	}
	return fmt.Errorf("softstore: no key with handle %q: %w", id, agent.ErrNotFound)
}

// DeleteKey removes the key with handle and its certificates.
func (s *Store) DeleteKey(handle []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if string(s.keys[i].Handle) == string(handle) {
			s.keys = slices.Delete(s.keys, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("softstore: no key with handle %q: %w", handle, agent.ErrNotFound)
}

// Login checks pin. A wrong PIN returns *agent.PINError with the tries
// left; at zero the store is blocked for good.
func (s *Store) Login(pin []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == 0 {
		return &agent.PINError{Retries: 0}
	}
	if subtle.ConstantTimeCompare(pin, s.pin) != 1 {
		s.tries--
		return &agent.PINError{Retries: s.tries}
	}
	s.tries, s.loggedIn = maxPINTries, true
	return nil
}

func (s *Store) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loggedIn = false
	return nil
}

func (s *Store) Locked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.loggedIn
}

func (s *Store) Close() error { return s.Logout() }
