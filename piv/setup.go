//go:build cgo

package piv

import (
	"crypto/rand"
	"errors"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// managementKeyBytes: 24 bytes is 3DES before firmware 5.4 and AES-192
// from 5.4 on (piv-go picks the algorithm from the length), so one length
// fits every YubiKey.
const managementKeyBytes = 24

// Setup prepares a card for trust-agent, as `yubikey-agent -setup` does:
// it changes the PUK, replaces the management key with a random one
// stored on the card in the PIN-protected data object (piv-go's
// Metadata), so Generate needs only the PIN, and changes the PIN.
//
// The PUK goes first because it depends on nothing else: a wrong old PUK
// (*PUKError, errors.Is ErrPUKIncorrect, not a PIN error) then leaves the
// card as it was, and Setup can simply be run again.
//
// Setup is resumable: a card that already holds a PIN-protected
// management key but whose PIN or PUK, as the caller gives them, is still
// the factory default (an earlier Setup stopped half-way) gets its PIN and
// PUK changed and keeps its management key. A card set up with neither at
// its default is refused. The PIN and PUK tried are only the ones the
// caller passes: a default is compared with them, never tried on its own.
//
// The new PIN and PUK must differ from the factory defaults (123456,
// 12345678) and from the current ones; otherwise Setup refuses with
// agent.ErrInvalidRequest before it touches the card. Resuming therefore
// takes a new PIN and PUK too.
//
// Setup is the only code that may use the factory-default management key,
// and only when opts.ManagementKey is nil.
func Setup(opts SetupOptions) error {
	for _, p := range []struct{ what, v, old, def string }{
		{"PIN", opts.NewPIN, opts.OldPIN, pivgo.DefaultPIN},
		{"PUK", opts.NewPUK, opts.OldPUK, pivgo.DefaultPUK},
	} {
		switch {
		case len(p.v) < 6 || len(p.v) > 8:
			return fmt.Errorf("piv: setup: the new %s must have 6 to 8 characters: %w", p.what, agent.ErrInvalidRequest)
		case p.v == p.def:
			return fmt.Errorf("piv: setup: the new %s must not be the factory default %s, which anyone can try: %w", p.what, p.def, agent.ErrInvalidRequest)
		case p.v == p.old:
			return fmt.Errorf("piv: setup: the new %s is the current one: choose a different one: %w", p.what, agent.ErrInvalidRequest)
		}
	}
	yk, _, _, err := findCard(opts.Serial, "")
	if err != nil {
		return err
	}
	defer yk.Close()
	fail := func(op string, err error) error { return wrap("setup: "+op, err, false) }

	m, err := yk.Metadata(opts.OldPIN)
	if err != nil {
		return fail("checking the PIN", err)
	}
	setUp := m.ManagementKey != nil && len(*m.ManagementKey) > 0
	if setUp && opts.OldPIN != pivgo.DefaultPIN && opts.OldPUK != pivgo.DefaultPUK {
		return fmt.Errorf("piv: setup: the card is already set up (it holds a PIN-protected management key, and neither its PIN nor its PUK is the factory default): %w", agent.ErrInvalidRequest)
	}

	if err := yk.SetPUK(opts.OldPUK, opts.NewPUK); err != nil {
		if pe, ok := pinError(err); ok {
			err = &PUKError{Retries: pe.Retries}
		}
		return fmt.Errorf("piv: setup: changing the PUK (nothing else was changed): %w", err)
	}
	if !setUp {
		if err := setManagementKey(yk, opts.ManagementKey); err != nil {
			return fail("storing a new management key (the PUK was already changed: the new PUK is now the current one)", err)
		}
	}
	if err := yk.SetPIN(opts.OldPIN, opts.NewPIN); err != nil {
		return fail("changing the PIN (the management key is stored and the PUK was changed: run setup again with the current PIN, and the new PUK as the current one, to finish)", err)
	}
	return nil
}

// setManagementKey replaces old (nil: the factory default) with a random
// management key and stores it in the PIN-protected data object; the PIN
// must be verified.
func setManagementKey(yk *pivgo.YubiKey, old []byte) error {
	fail := func(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }
	if old == nil {
		old = pivgo.DefaultManagementKey
	}
	mk := make([]byte, managementKeyBytes)
	if _, err := rand.Read(mk); err != nil {
		return err
	}
	if err := yk.SetManagementKey(old, mk); err != nil {
		return fail("changing the management key (is it the factory default?)", err)
	}
	if err := yk.SetMetadata(mk, &pivgo.Metadata{ManagementKey: &mk}); err != nil {
		// Without the stored copy nobody knows the new key: put the old
		// one back.
		if rerr := yk.SetManagementKey(mk, old); rerr != nil {
			return fail("storing the management key", errors.Join(err,
				fmt.Errorf("restoring the old management key also failed, the card needs a PIV reset: %w", rerr)))
		}
		return fail("storing the management key", err)
	}
	return nil
}
