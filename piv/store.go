//go:build cgo

package piv

import (
	"errors"
	"fmt"
	"sync"
	"time"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

var (
	_ agent.KeyStore        = (*Store)(nil)
	_ agent.PolicyGenerator = (*Store)(nil)
	_ agent.Attester        = (*Store)(nil)
)

// Store is one PIV card. All methods, including those of its signers, are
// safe to call from multiple goroutines: they take turns on the card.
type Store struct {
	opts   Options
	serial uint32

	// mu serialises every operation on the card and guards the fields
	// below. The card is opened (exclusively, by piv-go) for one
	// operation at a time and closed after it.
	mu     sync.Mutex
	reader string // where the card was last seen; re-found by serial
	pin    []byte // nil while locked
	closed bool
}

// Open finds the card with opts.Serial (or the first card when it is
// zero) and returns a locked Store for it. The card is not held open.
func Open(opts Options) (*Store, error) {
	if opts.PINPolicy == PINPolicyDefault {
		opts.PINPolicy = PINPolicyOnce
	}
	if opts.TouchPolicy == TouchPolicyDefault {
		opts.TouchPolicy = TouchPolicyNever
	}
	if opts.RootTouchPolicy == TouchPolicyDefault {
		opts.RootTouchPolicy = TouchPolicyAlways
	}
	if opts.TouchNoticeDelay <= 0 {
		opts.TouchNoticeDelay = defaultTouchNoticeDelay
	}
	yk, reader, serial, err := findCard(opts.Serial, "")
	if err != nil {
		return nil, err
	}
	yk.Close()
	return &Store{opts: opts, serial: serial, reader: reader}, nil
}

// findCard opens the card with serial (0: any), trying the reader hint
// first. The caller closes the returned YubiKey.
func findCard(serial uint32, hint string) (*pivgo.YubiKey, string, uint32, error) {
	try := func(reader string) (*pivgo.YubiKey, uint32, bool) {
		yk, err := pivgo.Open(reader)
		if err != nil {
			return nil, 0, false
		}
		s, err := yk.Serial()
		if err != nil || (serial != 0 && s != serial) {
			yk.Close()
			return nil, 0, false
		}
		return yk, s, true
	}
	if hint != "" {
		if yk, s, ok := try(hint); ok {
			return yk, hint, s, nil
		}
	}
	readers, err := pivgo.Cards()
	if err != nil {
		return nil, "", 0, fmt.Errorf("piv: listing smart card readers: %w: %w", agent.ErrDeviceUnavailable, err)
	}
	for _, r := range readers {
		if r == hint {
			continue
		}
		if yk, s, ok := try(r); ok {
			return yk, r, s, nil
		}
	}
	if serial == 0 {
		return nil, "", 0, fmt.Errorf("piv: no PIV card found in %d reader(s): %w", len(readers), agent.ErrDeviceUnavailable)
	}
	return nil, "", 0, fmt.Errorf("piv: card with serial %d not found (unplugged, or opened by another program): %w", serial, agent.ErrDeviceUnavailable)
}

// withCard opens the card, runs f and closes the card. s.mu must be held.
// A failure that is not an answer of the card, after which the card cannot
// be found again, wraps agent.ErrDeviceUnavailable.
//
// A PIN the card rejects (*agent.PINError, from any VERIFY: a signature,
// reading the management key for Generate or StoreCertificate, Login) is
// forgotten here, so the Store is locked: a PIN changed on the card since
// Login is tried once, not until the card blocks it. Every operation that
// uses the PIN goes through withCard.
func (s *Store) withCard(op string, f func(yk *pivgo.YubiKey) error) error {
	err := s.withCardOnce(op, f)
	if pe := (*agent.PINError)(nil); errors.As(err, &pe) {
		s.forgetPIN()
	}
	return err
}

func (s *Store) withCardOnce(op string, f func(yk *pivgo.YubiKey) error) error {
	if s.closed {
		return errClosed
	}
	yk, reader, _, err := findCard(s.serial, s.reader)
	if err != nil {
		return fmt.Errorf("piv: %s: %w", op, err)
	}
	s.reader = reader
	err = f(yk)
	yk.Close()
	if err == nil {
		return nil
	}
	gone := false
	if !fromCard(err) && !errors.Is(err, errNotSetUp) {
		if yk, _, _, ferr := findCard(s.serial, s.reader); ferr != nil {
			gone = true
		} else {
			yk.Close()
		}
	}
	return wrap(op, err, gone)
}

// Name is "piv:serial=N".
func (s *Store) Name() string { return fmt.Sprintf("piv:serial=%d", s.serial) }

// Kind is "piv".
func (s *Store) Kind() string { return "piv" }

// Serial is the card's serial number.
func (s *Store) Serial() uint32 { return s.serial }

// Login checks pin with the card (VERIFY) and keeps it in memory for
// signing: the card forgets a verified PIN when the Store closes it after
// each operation. A wrong PIN returns *agent.PINError with the tries left
// (0: blocked) and leaves the Store locked.
func (s *Store) Login(pin []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetPIN()
	if len(pin) < 6 || len(pin) > 8 {
		return fmt.Errorf("piv: a PIV PIN has 6 to 8 characters: %w", agent.ErrInvalidRequest)
	}
	err := s.withCard("login", func(yk *pivgo.YubiKey) error { return yk.VerifyPIN(string(pin)) })
	if err != nil {
		return err
	}
	s.pin = append([]byte(nil), pin...)
	return nil
}

// Logout forgets the PIN (clearing its bytes).
func (s *Store) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetPIN()
	return nil
}

func (s *Store) forgetPIN() {
	clear(s.pin)
	s.pin = nil
}

// Locked is true until Login succeeds and after Logout.
func (s *Store) Locked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pin == nil
}

// Close forgets the PIN; the Store is unusable afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetPIN()
	s.closed = true
	return nil
}

// pinString returns the PIN for piv-go (which takes a string, a copy we
// cannot wipe) or agent.ErrLocked. s.mu must be held.
func (s *Store) pinString() (string, error) {
	if s.closed {
		return "", errClosed
	}
	if s.pin == nil {
		return "", fmt.Errorf("piv: %s needs its PIN: %w", s.Name(), agent.ErrLocked)
	}
	return string(s.pin), nil
}

// touchNotice calls OnTouch if an operation on slot, whose touch policy is
// tp, is still running after the notice delay. The caller calls stop.
func (s *Store) touchNotice(slot pivgo.Slot, tp pivgo.TouchPolicy) (stop func()) {
	if s.opts.OnTouch == nil || tp == pivgo.TouchPolicyNever {
		return func() {}
	}
	on := s.opts.OnTouch
	t := time.AfterFunc(s.opts.TouchNoticeDelay, func() { on(byte(slot.Key)) })
	return func() { t.Stop() }
}

// managementKey reads the PIN-protected management key that Setup stored
// on the card. It verifies the PIN, as a side effect.
func managementKey(yk *pivgo.YubiKey, pin string) ([]byte, error) {
	m, err := yk.Metadata(pin)
	if err != nil {
		return nil, err
	}
	if m.ManagementKey == nil || len(*m.ManagementKey) == 0 {
		return nil, errNotSetUp
	}
	return *m.ManagementKey, nil
}

func pinPolicyOf(p PINPolicy) pivgo.PINPolicy {
	switch p {
	case PINPolicyNever:
		return pivgo.PINPolicyNever
	case PINPolicyAlways:
		return pivgo.PINPolicyAlways
	}
	return pivgo.PINPolicyOnce
}

func touchPolicyOf(p TouchPolicy) pivgo.TouchPolicy {
	switch p {
	case TouchPolicyAlways:
		return pivgo.TouchPolicyAlways
	case TouchPolicyCached:
		return pivgo.TouchPolicyCached
	}
	return pivgo.TouchPolicyNever
}

func pinPolicyFrom(p pivgo.PINPolicy) PINPolicy {
	switch p {
	case pivgo.PINPolicyNever:
		return PINPolicyNever
	case pivgo.PINPolicyOnce:
		return PINPolicyOnce
	case pivgo.PINPolicyAlways:
		return PINPolicyAlways
	}
	return PINPolicyDefault
}

func touchPolicyFrom(p pivgo.TouchPolicy) TouchPolicy {
	switch p {
	case pivgo.TouchPolicyNever:
		return TouchPolicyNever
	case pivgo.TouchPolicyAlways:
		return TouchPolicyAlways
	case pivgo.TouchPolicyCached:
		return TouchPolicyCached
	}
	return TouchPolicyDefault
}

var _ agent.AbilityReporter = (*Store)(nil)

// Abilities: a PIV card attests the keys it made, may wait for a touch,
// sets PIN and touch policies per key, makes ECDSA keys only (P-256,
// P-384), holds one root key (slot 9c), cannot delete keys, and imports
// software keys only when opened with Options.AllowImport.
func (s *Store) Abilities() agent.Abilities {
	return agent.Abilities{
		Attest: true, Touch: true, Policy: true, Import: s.opts.AllowImport,
		Algorithms: []string{agent.AlgorithmECDSA}, SlotKinds: slotKinds, MaxRootKeys: 1,
	}
}
