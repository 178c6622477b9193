//go:build cgo

package piv

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// rootSlot holds the root key: 9c is PIV's "digital signature" slot.
var rootSlot = pivgo.SlotSignature

// otherSlots are tried in order for repository, delegation and snapshot
// keys, and (retired slots only) for root certificates: the 20 retired
// key-management slots 82–95 first, then 9a and 9d. 9e (card
// authentication, no PIN by design) is never used.
func otherSlots() []pivgo.Slot {
	var out []pivgo.Slot
	for k := uint32(0x82); k <= 0x95; k++ {
		s, _ := pivgo.RetiredKeyManagementSlot(k)
		out = append(out, s)
	}
	return append(out, pivgo.SlotAuthentication, pivgo.SlotKeyManagement)
}

func allSlots() []pivgo.Slot { return append([]pivgo.Slot{rootSlot}, otherSlots()...) }

func slotByKey(k byte) (pivgo.Slot, bool) {
	for _, s := range allSlots() {
		if s.Key == uint32(k) {
			return s, true
		}
	}
	return pivgo.Slot{}, false
}

// hasKeyInfo reports whether the card answers GET METADATA (INS F7) for
// slots: YubiKey firmware 5.3 and later.
func hasKeyInfo(yk *pivgo.YubiKey) bool {
	v := yk.Version()
	return v.Major > 5 || (v.Major == 5 && v.Minor >= 3)
}

// slotState is what a slot holds.
type slotState struct {
	cert   *x509.Certificate // nil: no certificate
	key    bool              // a private key (known only from firmware 5.3)
	info   pivgo.KeyInfo
	hasKey bool // info is valid
}

func readSlot(yk *pivgo.YubiKey, slot pivgo.Slot) (slotState, error) {
	var st slotState
	cert, err := yk.Certificate(slot)
	switch {
	case err == nil:
		st.cert = cert
	case !errors.Is(err, pivgo.ErrNotFound):
		return st, fmt.Errorf("reading the certificate of slot %x: %w", slot.Key, err)
	}
	if hasKeyInfo(yk) {
		info, err := yk.KeyInfo(slot)
		switch {
		case err == nil:
			st.info, st.hasKey, st.key = info, true, true
		case !errors.Is(err, pivgo.ErrNotFound):
			return st, fmt.Errorf("reading the metadata of slot %x: %w", slot.Key, err)
		}
	}
	return st, nil
}

// free: neither a certificate nor (as far as the card tells) a key.
func (st slotState) free() bool { return st.cert == nil && !st.key }

func location(serial uint32, slot pivgo.Slot) string {
	return fmt.Sprintf("piv:serial=%d;slot=%x", serial, slot.Key)
}

// Keys lists the slots whose certificate's subject CN is a trust-agent
// label, and gives the root key the root certificates kept in retired
// slots (see StoreCertificate). It needs no PIN.
func (s *Store) Keys() ([]agent.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []agent.Key
	err := s.withCard("listing keys", func(yk *pivgo.YubiKey) error {
		keys = nil
		var spare []*x509.Certificate // certificates in slots without a key
		for _, slot := range allSlots() {
			st, err := readSlot(yk, slot)
			if err != nil {
				return err
			}
			if st.cert == nil {
				continue
			}
			meta, err := agent.ParseLabel(st.cert.Subject.CommonName)
			if err != nil {
				if !st.key {
					spare = append(spare, st.cert)
				}
				continue
			}
			pub, ok := st.cert.PublicKey.(*ecdsa.PublicKey)
			if !ok {
				continue
			}
			if st.hasKey {
				// The key was replaced behind our back (ykman): the
				// certificate no longer describes it.
				if kp, ok := st.info.PublicKey.(*ecdsa.PublicKey); !ok || !kp.Equal(pub) {
					continue
				}
			} else if hasKeyInfo(yk) {
				continue // a certificate without a key
			}
			sg := &signer{s: s, slot: slot, pub: pub}
			if st.hasKey {
				sg.pp, sg.tp = st.info.PINPolicy, st.info.TouchPolicy
			}
			keys = append(keys, agent.Key{Signer: sg, Handle: []byte{byte(slot.Key)}, Meta: meta, Location: location(s.serial, slot)})
		}
		for i := range keys {
			if keys[i].Meta.Role.ForFormat() {
				pub := keys[i].Public().(*ecdsa.PublicKey)
				for _, c := range spare {
					if cp, ok := c.PublicKey.(*ecdsa.PublicKey); ok && cp.Equal(pub) && codeSigning(c) {
						keys[i].Certs = append(keys[i].Certs, agent.Cert{GUN: agent.ChainLabel(keys[i].Meta.Name, keys[i].Meta.Role), DER: c.Raw})
					}
				}
			}
			if keys[i].Meta.Role != agent.RoleRoot {
				continue
			}
			pub := keys[i].Public().(*ecdsa.PublicKey)
			for _, c := range spare {
				if cp, ok := c.PublicKey.(*ecdsa.PublicKey); ok && cp.Equal(pub) {
					keys[i].Certs = append(keys[i].Certs, agent.Cert{GUN: c.Subject.CommonName, DER: c.Raw})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
