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
// it replaces the management key with a random one stored on the card in
// the PIN-protected data object (piv-go's Metadata), so Generate needs
// only the PIN; then it changes the PIN and PUK. A card already set up
// (it has a PIN-protected management key) is refused. Setup is the only
// code that may use the factory-default management key, and only when
// opts.ManagementKey is nil; the PIN and PUK are never assumed.
func Setup(opts SetupOptions) error {
	for _, p := range []struct{ what, v string }{{"new PIN", opts.NewPIN}, {"new PUK", opts.NewPUK}} {
		if len(p.v) < 6 || len(p.v) > 8 {
			return fmt.Errorf("piv: setup: the %s must have 6 to 8 characters: %w", p.what, agent.ErrInvalidRequest)
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
	if m.ManagementKey != nil && len(*m.ManagementKey) > 0 {
		return fmt.Errorf("piv: setup: the card is already set up (it holds a PIN-protected management key): %w", agent.ErrInvalidRequest)
	}
	old := opts.ManagementKey
	if old == nil {
		old = pivgo.DefaultManagementKey
	}
	mk := make([]byte, managementKeyBytes)
	if _, err := rand.Read(mk); err != nil {
		return fmt.Errorf("piv: setup: %w", err)
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
	if err := yk.SetPIN(opts.OldPIN, opts.NewPIN); err != nil {
		return fail("changing the PIN", err)
	}
	if err := yk.SetPUK(opts.OldPUK, opts.NewPUK); err != nil {
		return fail("changing the PUK (the PIN was changed)", err)
	}
	return nil
}
