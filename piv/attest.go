//go:build cgo

package piv

import (
	"crypto/x509"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// Attest returns the card's attestation certificate (slot f9, issued by
// the maker's CA) and the attestation of the key in slot (0x9c, 0x82, ...),
// signed by it. Keys imported with AllowImport have none (piv-go's
// ErrNotFound). No PIN is needed.
func (s *Store) Attest(slot byte) (attestationCert, slotCert *x509.Certificate, err error) {
	sl, ok := slotByKey(slot)
	if !ok {
		return nil, nil, fmt.Errorf("piv: slot %x is not one trust-agent uses: %w", slot, agent.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.withCard(fmt.Sprintf("attesting slot %x", slot), func(yk *pivgo.YubiKey) error {
		var err error
		if attestationCert, err = yk.AttestationCertificate(); err != nil {
			return fmt.Errorf("reading the attestation certificate: %w", err)
		}
		slotCert, err = yk.Attest(sl)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return attestationCert, slotCert, nil
}

// VerifyAttestation checks that slotCert was made by the card whose
// attestation certificate is attestationCert and that it chains to roots
// (nil: Yubico's own roots, as piv-go ships them). A virtual card's
// attestations verify only with its own root (pivtest.Roots).
func VerifyAttestation(roots *x509.CertPool, attestationCert, slotCert *x509.Certificate) (*Attestation, error) {
	var a *pivgo.Attestation
	var err error
	if roots == nil {
		a, err = pivgo.Verify(attestationCert, slotCert)
	} else {
		v := pivgo.Verifier{Roots: roots}
		a, err = v.Verify(attestationCert, slotCert)
	}
	if err != nil {
		return nil, fmt.Errorf("piv: attestation does not verify: %w", err)
	}
	return &Attestation{
		Serial:      a.Serial,
		Slot:        byte(a.Slot.Key),
		Version:     fmt.Sprintf("%d.%d.%d", a.Version.Major, a.Version.Minor, a.Version.Patch),
		PINPolicy:   pinPolicyFrom(a.PINPolicy),
		TouchPolicy: touchPolicyFrom(a.TouchPolicy),
	}, nil
}
