//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"slices"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/uri"
)

// Keys lists trust-agent's keys on the token: key objects whose CKA_LABEL
// parses with agent.ParseLabel (other applications' keys are skipped).
//
// The listing is built from public-key objects, which are CKA_PRIVATE
// false and so readable before login: after an agent restart, with no PIN
// yet, the keys still show. Private keys without a public-key object are
// added when visible (logged in, or not CKA_PRIVATE) and when their public
// key can be read from them (RSA always; EC only where the token exposes
// CKA_EC_POINT on private keys, which SoftHSM does not). Nothing is cached
// on disk.
func (s *Store) Keys() ([]agent.Key, error) {
	var keys []agent.Key
	err := s.session(func(sh pkcs11.SessionHandle) error {
		certs, err := s.certs(sh)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, class := range []uint{pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_PRIVATE_KEY} {
			objs, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)})
			if err != nil {
				return err
			}
			for _, o := range objs {
				k, ok := s.key(sh, o)
				if !ok || seen[string(k.Handle)] {
					continue
				}
				seen[string(k.Handle)] = true
				k.Certs = certs[string(k.Handle)]
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(keys, func(a, b agent.Key) int {
		if c := strings.Compare(a.Meta.Label(), b.Meta.Label()); c != 0 {
			return c
		}
		return bytes.Compare(a.Handle, b.Handle)
	})
	return keys, nil
}

// key describes key object o, or reports false for objects that are not
// trust-agent keys or whose public key cannot be read. Those are skipped
// rather than failing the listing: a shared token may hold anything.
func (s *Store) key(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle) (agent.Key, bool) {
	v, err := s.attrs(sh, o, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE)
	if err != nil || len(v[1]) == 0 {
		return agent.Key{}, false
	}
	meta, err := agent.ParseLabel(string(v[0]))
	if err != nil {
		return agent.Key{}, false
	}
	pub, err := s.publicKey(sh, o, ulong(v[2]))
	if err != nil {
		return agent.Key{}, false
	}
	return s.newKey(meta, v[1], pub), true
}

func (s *Store) newKey(meta agent.KeyMeta, id []byte, pub crypto.PublicKey) agent.Key {
	return agent.Key{
		Signer:   &signer{s: s, id: id, pub: pub},
		Handle:   id,
		Meta:     meta,
		Location: uri.URI{Token: s.label, ID: id, Object: meta.Label()}.String(),
	}
}

// certs reads every X.509 certificate object, grouped by CKA_ID.
func (s *Store) certs(sh pkcs11.SessionHandle) (map[string][]agent.Cert, error) {
	objs, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]agent.Cert{}
	for _, o := range objs {
		v, err := s.attrs(sh, o, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_VALUE)
		if err != nil || len(v[0]) == 0 {
			continue
		}
		out[string(v[0])] = append(out[string(v[0])], agent.Cert{GUN: string(v[1]), DER: v[2]})
	}
	for _, cs := range out {
		slices.SortFunc(cs, func(a, b agent.Cert) int { return strings.Compare(a.GUN, b.GUN) })
	}
	return out, nil
}
