//go:build cgo

package pkcs11

import (
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

var _ agent.Deleter = (*Store)(nil)

// DeleteKey destroys the key with CKA_ID id: its private key first (from
// then on the key is gone, whatever happens next), then its public key and
// the root certificates stored beside it. Only objects with that CKA_ID are
// touched, and only keys trust-agent made carry trust-agent's random IDs.
func (s *Store) DeleteKey(id []byte) error {
	if len(id) == 0 {
		return fmt.Errorf("pkcs11: delete: no key id: %w", agent.ErrInvalidRequest)
	}
	return s.session(func(sh pkcs11.SessionHandle) error {
		if err := s.requireLogin(sh, "delete key"); err != nil {
			return err
		}
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_CERTIFICATE} {
			objs, err := s.find(sh, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
				pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			})
			if err != nil {
				return err
			}
			if class == pkcs11.CKO_PRIVATE_KEY && len(objs) == 0 {
				return fmt.Errorf("pkcs11: delete: no private key with id %x on token %q: %w", id, s.label, agent.ErrNotFound)
			}
			for _, o := range objs {
				if err := s.p.DestroyObject(sh, o); err != nil {
					return wrap("delete key", err)
				}
			}
		}
		return nil
	})
}
