//go:build cgo

package piv

import (
	"crypto"
	"crypto/ecdsa"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// policies returns the PIN and touch policies for a new key of role: the
// ones asked for, else the Store's defaults.
func (s *Store) policies(role agent.Role, asked agent.KeyPolicy) (pivgo.PINPolicy, pivgo.TouchPolicy) {
	pp, tp := s.opts.PINPolicy, s.opts.TouchPolicy
	if role == agent.RoleRoot {
		tp = s.opts.RootTouchPolicy
	}
	switch asked.PIN {
	case "once":
		pp = PINPolicyOnce
	case "always":
		pp = PINPolicyAlways
	}
	switch asked.Touch {
	case "never":
		tp = TouchPolicyNever
	case "cached":
		tp = TouchPolicyCached
	case "always":
		tp = TouchPolicyAlways
	}
	return pinPolicyOf(pp), touchPolicyOf(tp)
}

// pickSlot returns the slot for a new key of role: 9c for root, else the
// first free of 82–95, 9a, 9d.
func pickSlot(yk *pivgo.YubiKey, role agent.Role) (pivgo.Slot, error) {
	if role == agent.RoleRoot {
		st, err := readSlot(yk, rootSlot)
		if err != nil {
			return pivgo.Slot{}, err
		}
		if !st.free() {
			return pivgo.Slot{}, fmt.Errorf("slot 9c already holds a key or certificate; a PIV card holds one root key, and trust-agent never overwrites a slot: %w", agent.ErrInvalidRequest)
		}
		return rootSlot, nil
	}
	for _, slot := range otherSlots() {
		st, err := readSlot(yk, slot)
		if err != nil {
			return pivgo.Slot{}, err
		}
		if st.free() {
			return slot, nil
		}
	}
	return pivgo.Slot{}, fmt.Errorf("no free slot among 82–95, 9a and 9d: %w", agent.ErrInvalidRequest)
}

// Generate makes an EC P-256 key on the card, in slot 9c for a root key
// and the first free other slot otherwise, and stores in the slot a
// self-signed certificate (made with the new key) whose subject CN is
// meta.Label(). It needs the PIN (Login) and the management key Setup
// stored on the card. A root key with touch policy "always" needs a touch
// for that certificate.
func (s *Store) Generate(meta agent.KeyMeta, algorithm string, bits int) (agent.Key, error) {
	return s.GenerateWithPolicy(meta, algorithm, bits, agent.KeyPolicy{})
}

// GenerateWithPolicy is Generate with the key's PIN and touch policies
// chosen here instead of by the Store's Options.
func (s *Store) GenerateWithPolicy(meta agent.KeyMeta, algorithm string, bits int, policy agent.KeyPolicy) (agent.Key, error) {
	if algorithm != "" && algorithm != agent.AlgorithmECDSA {
		return agent.Key{}, fmt.Errorf("piv: only %s (P-256, P-384) keys are supported, not %q: %w", agent.AlgorithmECDSA, algorithm, agent.ErrInvalidRequest)
	}
	alg := pivgo.AlgorithmEC256
	switch bits {
	case 0, 256:
	case 384: // every YubiKey 4 and 5 has it
		alg = pivgo.AlgorithmEC384
	default:
		return agent.Key{}, fmt.Errorf("piv: ECDSA keys are P-256 or P-384, not %d bits: %w", bits, agent.ErrInvalidRequest)
	}
	return s.addKey("generating a key", meta, policy, func(yk *pivgo.YubiKey, mk []byte, slot pivgo.Slot, pp pivgo.PINPolicy, tp pivgo.TouchPolicy) (*ecdsa.PublicKey, error) {
		pub, err := yk.GenerateKey(mk, slot, pivgo.Key{Algorithm: alg, PINPolicy: pp, TouchPolicy: tp})
		if err != nil {
			return nil, err
		}
		ep, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("card returned a %T public key", pub)
		}
		return ep, nil
	})
}

type placeFunc func(yk *pivgo.YubiKey, mk []byte, slot pivgo.Slot, pp pivgo.PINPolicy, tp pivgo.TouchPolicy) (*ecdsa.PublicKey, error)

// addKey picks a slot, lets place put a key there, and certifies it. If
// the certificate cannot be made or stored, the key stays in its slot,
// which is then neither listed nor reused (on firmware 5.3+); ykman piv
// keys delete clears it.
func (s *Store) addKey(op string, meta agent.KeyMeta, policy agent.KeyPolicy, place placeFunc) (agent.Key, error) {
	// Keys lists only slots whose label parses: refuse up front what it
	// would not list (a key with no name, a targets key with no repository).
	if _, err := agent.ParseLabel(meta.Label()); err != nil {
		return agent.Key{}, fmt.Errorf("piv: %s: invalid key metadata: %w: %w", op, err, agent.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return agent.Key{}, err
	}
	var key agent.Key
	err = s.withCard(op, func(yk *pivgo.YubiKey) error {
		mk, err := managementKey(yk, pin)
		if err != nil {
			return err
		}
		slot, err := pickSlot(yk, meta.Role)
		if err != nil {
			return err
		}
		pp, tp := s.policies(meta.Role, policy)
		pub, err := place(yk, mk, slot, pp, tp)
		if err != nil {
			return err
		}
		priv, err := yk.PrivateKey(slot, pub, pivgo.KeyAuth{PIN: pin, PINPolicy: pp})
		if err != nil {
			return err
		}
		stop := s.touchNotice(slot, tp)
		cert, err := selfCertificate(meta.Label(), pub, priv.(crypto.Signer))
		stop()
		if err != nil {
			return err
		}
		if err := yk.SetCertificate(mk, slot, cert); err != nil {
			return fmt.Errorf("storing the certificate in slot %x: %w", slot.Key, err)
		}
		key = agent.Key{
			Signer:   &signer{s: s, slot: slot, pub: pub, pp: pp, tp: tp},
			Handle:   []byte{byte(slot.Key)},
			Meta:     meta,
			Location: location(s.serial, slot),
		}
		return nil
	})
	return key, err
}
