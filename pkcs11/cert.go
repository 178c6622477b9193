//go:build cgo

package pkcs11

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// maxCertBytes caps a certificate we store: a root certificate is well
// under 2 KiB, and tokens have little memory to spare.
const maxCertBytes = 16 << 10

// StoreCertificate keeps der, the root certificate of key id for
// repository gun, as a public X.509 certificate object (CKA_ID id,
// CKA_LABEL gun), replacing one stored earlier for the same id and gun. It
// needs no login: certificates are public objects.
func (s *Store) StoreCertificate(id []byte, gun string, der []byte) error {
	if len(der) > maxCertBytes {
		return fmt.Errorf("pkcs11: certificate is %d bytes, more than %d: %w", len(der), maxCertBytes, agent.ErrInvalidRequest)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pkcs11: %w: %w", agent.ErrInvalidRequest, err)
	}
	if len(id) == 0 || gun == "" {
		return fmt.Errorf("pkcs11: a certificate needs a key id and a repository: %w", agent.ErrInvalidRequest)
	}
	return s.session(func(sh pkcs11.SessionHandle) error {
		keys, err := s.find(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return fmt.Errorf("pkcs11: no key with id %x on token %q: %w", id, s.label, agent.ErrNotFound)
		}
		old, err := s.find(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, gun),
		})
		if err != nil {
			return err
		}
		// Create first, then delete the old ones: a failure leaves the
		// previous certificate rather than none.
		_, err = s.p.CreateObject(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, gun),
			pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
			pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
			pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serialDER(cert)),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
		})
		if err != nil {
			return wrap("store certificate", err)
		}
		for _, o := range old {
			if err := s.p.DestroyObject(sh, o); err != nil {
				return wrap("replace certificate", err)
			}
		}
		return nil
	})
}

// serialDER is CKA_SERIAL_NUMBER: the DER INTEGER of the serial, as
// PKCS#11 defines it (not the bare bytes).
func serialDER(c *x509.Certificate) []byte {
	b, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return nil
	}
	return b
}
