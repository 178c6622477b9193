//go:build cgo

package piv

import (
	"bytes"
	"crypto/x509"
	"errors"
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

// AttestationChain implements agent.Attester: the attestation of the key
// in slot handle[0], as two DER certificates, leaf first: the slot's
// attestation certificate, then the card's attestation certificate (slot
// f9) that signed it. VerifyAttestationChain checks such a chain. A slot
// whose key was imported (or that holds none) has no attestation: that is
// agent.ErrInvalidRequest, with the reason.
func (s *Store) AttestationChain(handle []byte) ([][]byte, error) {
	if len(handle) != 1 {
		return nil, fmt.Errorf("piv: handle %x is not a slot: %w", handle, agent.ErrInvalidRequest)
	}
	att, slot, err := s.Attest(handle[0])
	if errors.Is(err, pivgo.ErrNotFound) {
		// 6A80 on ATTEST, or no f9 certificate (deleted with ykman).
		return nil, fmt.Errorf("piv: %s cannot attest the key in slot %x (an imported key, or the card's attestation certificate was removed): %w: %w",
			s.Name(), handle[0], agent.ErrInvalidRequest, err)
	}
	if err != nil {
		return nil, err
	}
	return [][]byte{slot.Raw, att.Raw}, nil
}

// VerifyAttestationChain verifies a chain as AttestationChain returns it
// (and as `trust-agent key generate` writes NAME.attest.pem): exactly two
// DER certificates, the slot's attestation first, then the card's
// attestation certificate. roots are as for VerifyAttestation (nil:
// Yubico's). The result's PublicKey is the attested key: the caller
// compares it with the key it means.
func VerifyAttestationChain(roots *x509.CertPool, chain [][]byte) (*Attestation, error) {
	if len(chain) != 2 {
		return nil, fmt.Errorf("piv: an attestation chain has 2 certificates (the slot's, then the card's), not %d", len(chain))
	}
	slotCert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("piv: the slot's attestation certificate: %w", err)
	}
	attCert, err := x509.ParseCertificate(chain[1])
	if err != nil {
		return nil, fmt.Errorf("piv: the card's attestation certificate: %w", err)
	}
	return VerifyAttestation(roots, attCert, slotCert)
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
	// piv-go v2.6.0 only asks that slotCert chain to the roots, with
	// attestationCert offered as an intermediate: a certificate the roots
	// sign directly passes too (the card's f9 certificate given as the
	// slot's, say), and would "attest" the f9 key. The slot's attestation
	// must be signed by the card's attestation key itself.
	if !bytes.Equal(slotCert.RawIssuer, attestationCert.RawSubject) ||
		attestationCert.CheckSignature(slotCert.SignatureAlgorithm, slotCert.RawTBSCertificate, slotCert.Signature) != nil {
		return nil, fmt.Errorf("piv: attestation does not verify: the slot's certificate is not signed by the card's attestation certificate")
	}
	return &Attestation{
		Serial:      a.Serial,
		Slot:        byte(a.Slot.Key),
		Version:     fmt.Sprintf("%d.%d.%d", a.Version.Major, a.Version.Minor, a.Version.Patch),
		PINPolicy:   pinPolicyFrom(a.PINPolicy),
		TouchPolicy: touchPolicyFrom(a.TouchPolicy),
		PublicKey:   slotCert.PublicKey,
	}, nil
}
