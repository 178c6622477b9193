//go:build cgo

package piv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// Import puts priv (an ECDSA P-256 key) on the card, only when the Store
// was opened with Options.AllowImport.
func (s *Store) Import(meta agent.KeyMeta, priv crypto.Signer) (agent.Key, error) {
	if !s.opts.AllowImport {
		return agent.Key{}, fmt.Errorf("piv: import refused: an imported key existed outside hardware, so the card cannot attest it; generate the key on the card, or allow import explicitly (trust-agent start --piv-allow-import): %w", agent.ErrInvalidRequest)
	}
	ek, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return agent.Key{}, fmt.Errorf("piv: only ECDSA P-256 keys can be imported, not %T: %w", priv, agent.ErrInvalidRequest)
	}
	return s.addKey("importing a key", meta, agent.KeyPolicy{}, func(yk *pivgo.YubiKey, mk []byte, slot pivgo.Slot, pp pivgo.PINPolicy, tp pivgo.TouchPolicy) (*ecdsa.PublicKey, error) {
		if err := yk.SetPrivateKeyInsecure(mk, slot, ek, pivgo.Key{Algorithm: pivgo.AlgorithmEC256, PINPolicy: pp, TouchPolicy: tp}); err != nil {
			return nil, err
		}
		return &ek.PublicKey, nil
	})
}
