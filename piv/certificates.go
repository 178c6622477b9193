//go:build cgo

package piv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// selfCertificate is the slot certificate carrying a key's metadata:
// subject CN = label, self-signed by the key on the card, valid for ever
// (RFC 5280's 99991231235959Z: it describes, it does not vouch).
func selfCertificate(label string, pub *ecdsa.PublicKey, priv crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: label},
		NotBefore:    time.Now().Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("self-signing the slot certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// StoreCertificate keeps a root certificate for one repository. PIV has
// one certificate object per slot and slot 9c's holds the root key's
// metadata, so root certificates go into the certificate objects of free
// retired slots (82–95; no key is put there). Keys finds them again as
// certificates, in slots without a key, whose public key is the root
// key's; their subject CN is the repository. A certificate for a
// repository that already has one replaces it in the same slot. Each one
// uses up a retired slot that a repository key could otherwise have.
//
// A format key's signing certificate (agent.CertifyKey, gun the label
// agent.ChainLabel(name, role)) is kept the same way: in a free retired
// slot's certificate object, found again as a code-signing certificate
// whose public key is the key's, and replaced in place. Writing needs the
// management key, which the PIN guards. A card keeps no CA chain
// (agent.ChainStorer): the leaf only.
func (s *Store) StoreCertificate(id []byte, gun string, der []byte) error {
	if len(id) == 1 && byte(id[0]) != byte(rootSlot.Key) {
		return s.storeSigningCertificate(id[0], gun, der)
	}
	if len(id) != 1 {
		return fmt.Errorf("piv: no key with handle %x: %w", id, agent.ErrInvalidRequest)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("piv: parsing the root certificate: %w: %w", agent.ErrInvalidRequest, err)
	}
	if cert.Subject.CommonName != gun {
		return fmt.Errorf("piv: the root certificate's CN %q is not %q: %w", cert.Subject.CommonName, gun, agent.ErrInvalidRequest)
	}
	cp, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("piv: the root certificate's key is not ECDSA: %w", agent.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return err
	}
	return s.withCard("storing a root certificate", func(yk *pivgo.YubiKey) error {
		root, err := readSlot(yk, rootSlot)
		if err != nil {
			return err
		}
		if root.cert == nil {
			return fmt.Errorf("slot 9c holds no root key: %w", agent.ErrNotFound)
		}
		if rp, ok := root.cert.PublicKey.(*ecdsa.PublicKey); !ok || !rp.Equal(cp) {
			return fmt.Errorf("the certificate is not for the root key in slot 9c: %w", agent.ErrInvalidRequest)
		}
		var target *pivgo.Slot
		for _, slot := range otherSlots()[:20] {
			st, err := readSlot(yk, slot)
			if err != nil {
				return err
			}
			if st.key {
				continue
			}
			if st.cert != nil {
				if p, ok := st.cert.PublicKey.(*ecdsa.PublicKey); ok && p.Equal(cp) && st.cert.Subject.CommonName == gun {
					target = &slot
					break
				}
				continue
			}
			if target == nil {
				target = &slot
			}
		}
		if target == nil {
			return fmt.Errorf("no free retired slot (82–95) for the root certificate of %s: %w", gun, agent.ErrInvalidRequest)
		}
		mk, err := managementKey(yk, pin)
		if err != nil {
			return err
		}
		return yk.SetCertificate(mk, *target, cert)
	})
}

// codeSigning reports whether c is a code-signing certificate (a format
// key's signing certificate, never a root certificate).
func codeSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageCodeSigning {
			return true
		}
	}
	return false
}

// storeSigningCertificate keeps the signing certificate of the format key
// in slot k in a free retired slot (see StoreCertificate).
func (s *Store) storeSigningCertificate(k byte, label string, der []byte) error {
	slot, ok := slotByKey(k)
	if !ok {
		return fmt.Errorf("piv: no slot %x: %w", k, agent.ErrInvalidRequest)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("piv: parsing the signing certificate: %w: %w", agent.ErrInvalidRequest, err)
	}
	cp, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !codeSigning(cert) {
		return fmt.Errorf("piv: the signing certificate is not an ECDSA code-signing certificate: %w", agent.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return err
	}
	return s.withCard("storing a signing certificate", func(yk *pivgo.YubiKey) error {
		st, err := readSlot(yk, slot)
		if err != nil {
			return err
		}
		if st.cert == nil {
			return fmt.Errorf("slot %x holds no key: %w", k, agent.ErrNotFound)
		}
		meta, err := agent.ParseLabel(st.cert.Subject.CommonName)
		if err != nil || !meta.Role.ForFormat() || agent.ChainLabel(meta.Name, meta.Role) != label {
			return fmt.Errorf("slot %x holds no notation or cosign key labelled %q: %w", k, label, agent.ErrInvalidRequest)
		}
		if kp, ok := st.cert.PublicKey.(*ecdsa.PublicKey); !ok || !kp.Equal(cp) {
			return fmt.Errorf("the certificate is not for the key in slot %x: %w", k, agent.ErrInvalidRequest)
		}
		var target *pivgo.Slot
		for _, sl := range otherSlots()[:20] {
			st, err := readSlot(yk, sl)
			if err != nil {
				return err
			}
			if st.key {
				continue
			}
			if st.cert != nil {
				if p, ok := st.cert.PublicKey.(*ecdsa.PublicKey); ok && p.Equal(cp) && codeSigning(st.cert) {
					target = &sl
					break
				}
				continue
			}
			if target == nil {
				target = &sl
			}
		}
		if target == nil {
			return fmt.Errorf("no free retired slot (82–95) for the signing certificate of %s: %w", label, agent.ErrInvalidRequest)
		}
		mk, err := managementKey(yk, pin)
		if err != nil {
			return err
		}
		return yk.SetCertificate(mk, *target, cert)
	})
}
