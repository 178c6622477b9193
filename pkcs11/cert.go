//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// maxCertBytes caps a certificate we store: a root certificate is well
// under 2 KiB, and tokens have little memory to spare.
const maxCertBytes = 16 << 10

// StoreCertificate keeps der, the root certificate of key id for
// repository gun, as an X.509 certificate object (CKA_ID id, CKA_LABEL
// gun), replacing one stored earlier for the same id and gun.
//
// The object is CKA_PRIVATE true and CKA_MODIFIABLE false, so it needs
// the login: a certificate decides which key IDs the agent maps to a root
// key, and public objects can be written by any process that opens the
// token, without the PIN. (Stores written by earlier versions hold public
// certificate objects; Keys still lists those when they are self-signed
// by the key, and storing a certificate for the same repository again
// replaces them.) The certificate's public key must be the key's.
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
		if err := s.requireLogin(sh, "store certificate"); err != nil {
			return err
		}
		pub, err := s.keyPublic(sh, id)
		if err != nil {
			return err
		}
		if eq, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
			return fmt.Errorf("pkcs11: the certificate is for another public key than key %x: %w", id, agent.ErrInvalidRequest)
		}
		return s.replaceCertificate(sh, id, gun, cert, der, "certificate")
	})
}

// keyPublic returns the public key of the private key with CKA_ID id,
// checked as Keys checks it while logged in.
func (s *Store) keyPublic(sh pkcs11.SessionHandle, id []byte) (crypto.PublicKey, error) {
	h, err := s.privateKey(sh, id)
	if err != nil {
		return nil, err
	}
	v, err := s.attrs(sh, h, pkcs11.CKA_LABEL, pkcs11.CKA_KEY_TYPE)
	if err != nil {
		return nil, err
	}
	objs, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	var pubs []pubObject
	for _, o := range objs {
		pv, err := s.attrs(sh, o, pkcs11.CKA_LABEL, pkcs11.CKA_KEY_TYPE)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pubObject{o, string(pv[0]), ulong(pv[1])})
	}
	pub, err := s.boundPublicKey(sh, h, id, string(v[0]), ulong(v[1]), pubs)
	if err != nil {
		if _, fromToken := rv(err); fromToken {
			return nil, err
		}
		return nil, fmt.Errorf("pkcs11: key %x on token %q: %v: %w", id, s.label, err, agent.ErrDenied)
	}
	return pub, nil
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

// chainLinkLabel reports whether label names a CA certificate of a
// signing chain: "NAME:ROLE/N", N a digit from 1.
func chainLinkLabel(label string) bool {
	i := strings.LastIndexByte(label, '/')
	return i > 0 && strings.Contains(label[:i], ":") && len(label) == i+2 && label[i+1] >= '1' && label[i+1] <= '9'
}

// maxChainLinks bounds the CA certificates StoreChain keeps for one key.
const maxChainLinks = 8

// StoreChain keeps a format key's signing chain beside key id: the leaf
// (which must be the key's) as StoreCertificate stores it under label,
// each CA certificate after it as a private certificate object labelled
// label+"/1", label+"/2", .... CA certificates stored earlier under
// label are removed. It implements agent.ChainStorer.
func (s *Store) StoreChain(id []byte, label string, chain [][]byte) error {
	if len(chain) == 0 || len(chain) > maxChainLinks+1 {
		return fmt.Errorf("pkcs11: a chain of %d certificates; store 1 to %d: %w", len(chain), maxChainLinks+1, agent.ErrInvalidRequest)
	}
	if strings.Contains(label, "/") || !strings.Contains(label, ":") {
		return fmt.Errorf("pkcs11: %q is not a chain label (NAME:ROLE): %w", label, agent.ErrInvalidRequest)
	}
	for _, der := range chain[1:] {
		if len(der) > maxCertBytes {
			return fmt.Errorf("pkcs11: certificate is %d bytes, more than %d: %w", len(der), maxCertBytes, agent.ErrInvalidRequest)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("pkcs11: %w: %w", agent.ErrInvalidRequest, err)
		}
	}
	if err := s.StoreCertificate(id, label, chain[0]); err != nil {
		return err
	}
	return s.session(func(sh pkcs11.SessionHandle) error {
		if err := s.requireLogin(sh, "store certificate chain"); err != nil {
			return err
		}
		for n := 1; n <= maxChainLinks; n++ {
			var cert *x509.Certificate
			var der []byte
			if n < len(chain) { // else: remove a link stored earlier
				der = chain[n]
				cert, _ = x509.ParseCertificate(der) // checked above
			}
			if err := s.replaceCertificate(sh, id, fmt.Sprintf("%s/%d", label, n), cert, der, "certificate chain"); err != nil {
				return err
			}
		}
		return nil
	})
}

// replaceCertificate stores der (cert parsed) as a private, unmodifiable
// certificate object with CKA_ID id and CKA_LABEL label, then destroys the
// objects stored earlier under that id and label; with der nil it only
// destroys them. Creating first means a failure leaves the old object
// rather than none. what names the object in errors.
func (s *Store) replaceCertificate(sh pkcs11.SessionHandle, id []byte, label string, cert *x509.Certificate, der []byte, what string) error {
	old, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	})
	if err != nil {
		return err
	}
	if der != nil {
		_, err = s.p.CreateObject(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
			pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
			pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serialDER(cert)),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
		})
		if err != nil {
			return wrap("store "+what, err)
		}
	}
	for _, o := range old {
		if err := s.p.DestroyObject(sh, o); err != nil {
			return wrap("replace "+what, err)
		}
	}
	return nil
}
