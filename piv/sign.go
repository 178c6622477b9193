//go:build cgo

package piv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"io"

	pivgo "github.com/go-piv/piv-go/v2/piv"
)

// signer is a key on the card as a crypto.Signer. Each Sign opens the
// card, verifies the PIN as the slot's policy asks, signs and closes it.
type signer struct {
	s    *Store
	slot pivgo.Slot
	pub  *ecdsa.PublicKey
	pp   pivgo.PINPolicy // zero: piv-go asks the card (firmware 5.3+)
	tp   pivgo.TouchPolicy
}

func (k *signer) Public() crypto.PublicKey { return k.pub }

// Sign returns an ASN.1 DER ECDSA signature of digest (the card signs the
// digest; opts only names the hash). A wrong PIN (changed on the card
// since Login) returns *agent.PINError and locks the Store (withCard), so
// a stale PIN does not use up the tries.
func (k *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.withCard(fmt.Sprintf("signing with slot %x", k.slot.Key), func(yk *pivgo.YubiKey) error {
		priv, err := yk.PrivateKey(k.slot, k.pub, pivgo.KeyAuth{PIN: pin, PINPolicy: k.pp})
		if err != nil {
			return err
		}
		stop := s.touchNotice(k.slot, k.tp)
		defer stop()
		sig, err = priv.(crypto.Signer).Sign(rand.Reader, digest, opts)
		return err
	})
	return sig, err
}
