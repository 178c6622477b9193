//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/uri"
)

// Keys lists trust-agent's keys on the token: key objects whose CKA_LABEL
// parses with agent.ParseLabel (other applications' keys are skipped).
//
// What a listing can be trusted for depends on the login, because PKCS#11
// login belongs to an application: any other process that can open the
// token may create, and destroy, public objects (CKA_PRIVATE false)
// without the PIN, while private objects need it.
//
//   - Logged in, the listing starts from the private key objects
//     (CKA_PRIVATE true): the role, name and repository come from the
//     private key's CKA_LABEL. A key is skipped, with a warning in the
//     store's log, when a public key object with its CKA_ID carries
//     another label, when there is more than one, or when the public key
//     does not belong to the private key (RSA: compared with the private
//     object's modulus and exponent; ECDSA, whose private objects do not
//     expose the point on SoftHSM: one probe signature, verified, then
//     remembered). Root certificates are listed too, only if their
//     SubjectPublicKeyInfo is the key's public key: private certificate
//     objects (what StoreCertificate writes), and, for stores written
//     before certificates became private, public ones that are also
//     self-signed by the key.
//   - Locked, the listing comes from the public key objects, for display
//     only: it says which keys the token claims to hold, may carry a
//     planted label, and has no certificates. Signing needs the login,
//     and a signer listed while locked checks, on its first signature,
//     that the private key carries the same label and matches its public
//     key, refusing with agent.ErrDenied otherwise. The agent lists the
//     keys again when it unlocks, so what it signs with comes from the
//     private objects.
//
// Nothing is cached on disk.
func (s *Store) Keys() ([]agent.Key, error) {
	var keys []agent.Key
	err := s.session(func(sh pkcs11.SessionHandle) error {
		var err error
		if s.loggedIn(sh) {
			keys, err = s.privateKeys(sh)
		} else {
			keys, err = s.publicKeys(sh)
		}
		return err
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

// publicKeys lists keys from their public key objects: the locked view.
func (s *Store) publicKeys(sh pkcs11.SessionHandle) ([]agent.Key, error) {
	objs, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)})
	if err != nil {
		return nil, err
	}
	var keys []agent.Key
	seen := map[string]bool{}
	for _, o := range objs {
		v, err := s.attrs(sh, o, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE)
		if err != nil || len(v[1]) == 0 || seen[string(v[1])] {
			continue
		}
		meta, err := agent.ParseLabel(string(v[0]))
		if err != nil {
			continue
		}
		pub, err := s.publicKey(sh, o, ulong(v[2]))
		if err != nil {
			continue
		}
		seen[string(v[1])] = true
		keys = append(keys, s.newKey(meta, v[1], pub))
	}
	return keys, nil
}

// pubObject is a public key object as privateKeys reads it.
type pubObject struct {
	h       pkcs11.ObjectHandle
	label   string
	keyType uint
}

// privateKeys lists keys from their private key objects: the logged-in
// view, which another process cannot forge without the PIN.
func (s *Store) privateKeys(sh pkcs11.SessionHandle) ([]agent.Key, error) {
	privs, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
	})
	if err != nil {
		return nil, err
	}
	pubHandles, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)})
	if err != nil {
		return nil, err
	}
	pubs := map[string][]pubObject{}
	for _, o := range pubHandles {
		v, err := s.attrs(sh, o, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE)
		if err != nil || len(v[1]) == 0 {
			continue
		}
		pubs[string(v[1])] = append(pubs[string(v[1])], pubObject{o, string(v[0]), ulong(v[2])})
	}
	certs, err := s.certs(sh)
	if err != nil {
		return nil, err
	}
	var keys []agent.Key
	seen := map[string]bool{}
	for _, o := range privs {
		v, err := s.attrs(sh, o, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE)
		if err != nil || len(v[1]) == 0 {
			continue
		}
		label, id, keyType := string(v[0]), v[1], ulong(v[2])
		meta, err := agent.ParseLabel(label)
		if err != nil {
			continue // not ours
		}
		if seen[string(id)] {
			s.warn(id, "two private keys share this CKA_ID; signing with it is refused")
			continue
		}
		seen[string(id)] = true
		pub, err := s.boundPublicKey(sh, o, id, label, keyType, pubs[string(id)])
		if err != nil {
			s.warn(id, err.Error())
			continue
		}
		k := s.newKey(meta, id, pub)
		k.Certs = matchingCerts(certs[string(id)], pub)
		keys = append(keys, k)
	}
	return keys, nil
}

// boundPublicKey returns the public key of private key object priv
// (CKA_ID id, CKA_LABEL label), after checking that the public key
// objects with that id agree with it: one at most, the same label, the
// same key.
func (s *Store) boundPublicKey(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle, id []byte, label string, keyType uint, pubs []pubObject) (crypto.PublicKey, error) {
	if len(pubs) > 1 {
		return nil, fmt.Errorf("%d public key objects share this CKA_ID (trust-agent makes one)", len(pubs))
	}
	var pub crypto.PublicKey
	if len(pubs) == 1 {
		if pubs[0].label != label || pubs[0].keyType != keyType {
			return nil, fmt.Errorf("its public key object is labelled %q but the private key %q: the public object was replaced or relabelled", pubs[0].label, label)
		}
		var err error
		if pub, err = s.publicKey(sh, pubs[0].h, keyType); err != nil {
			return nil, err
		}
	}
	if keyType == pkcs11.CKK_RSA {
		// The private object holds the modulus and exponent: take the key
		// from there, and hold a public object to it.
		own, err := s.publicKey(sh, priv, keyType)
		if err != nil {
			return nil, err
		}
		if pub != nil && !own.(*rsa.PublicKey).Equal(pub) {
			return nil, errors.New("its public key object holds another RSA key than the private key")
		}
		pub = own
	}
	if pub == nil {
		return nil, errors.New("it has no public key object, and the token does not expose the public key on the private object")
	}
	if err := s.verifyKey(sh, priv, id, label, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

func (s *Store) newKey(meta agent.KeyMeta, id []byte, pub crypto.PublicKey) agent.Key {
	return agent.Key{
		Signer:   &signer{s: s, id: id, pub: pub, label: meta.Label(), bind: bindKey(id, meta.Label(), pub)},
		Handle:   id,
		Meta:     meta,
		Location: uri.URI{Token: s.label, ID: id, Object: meta.Label()}.String(),
	}
}

// bindings remembers which (CKA_ID, label, public key) triples were
// checked against their private key object in this process, so the probe
// signature runs once per key, not on every listing and signature.
// Private objects cannot change under us without the PIN, and Login
// forgets everything anyway.
type bindings struct {
	mu sync.Mutex
	m  map[string]bool
}

func (b *bindings) ok(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

func (b *bindings) add(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]bool{}
	}
	b.m[key] = true
}

func (b *bindings) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m = nil
}

// bindKey is the bindings key of a triple; "" when pub cannot be encoded,
// which is never remembered.
func bindKey(id []byte, label string, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%x\x00%s\x00%x", id, label, der)
}

// probeDigest is what verifyKey signs to prove that a private key object
// belongs to a public key. It is no hash of anything a verifier would
// accept elsewhere: a fixed, recognisable value.
var probeDigest = sha256.Sum256([]byte("trust-agent pkcs11: does this private key match its public key?"))

// verifyKey checks that the private key object priv carries label and is
// the private half of pub. For ECDSA that takes one signature (SoftHSM
// does not expose CKA_EC_POINT on private keys); the answer is
// remembered.
func (s *Store) verifyKey(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle, id []byte, label string, pub crypto.PublicKey) error {
	key := bindKey(id, label, pub)
	if key != "" && s.bound.ok(key) {
		return nil
	}
	v, err := s.attrs(sh, priv, pkcs11.CKA_LABEL)
	if err != nil {
		return err
	}
	if string(v[0]) != label {
		return fmt.Errorf("listed as %q, but its private key is labelled %q", label, v[0])
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		own, err := s.publicKey(sh, priv, pkcs11.CKK_RSA)
		if err != nil {
			return err
		}
		if !pub.Equal(own) {
			return errors.New("its public key is not the private key's")
		}
	case *ecdsa.PublicKey:
		if err := s.p.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, priv); err != nil {
			return wrap("probe signature", err)
		}
		raw, err := s.p.Sign(sh, probeDigest[:])
		if err != nil {
			return wrap("probe signature", err)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(raw) != 2*size || !ecdsa.Verify(pub, probeDigest[:],
			new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])) {
			return errors.New("its public key object holds another key than the private key")
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	if key != "" {
		s.bound.add(key)
	}
	return nil
}

// warn logs, once per key and reason, why a key is left out of a listing.
func (s *Store) warn(id []byte, reason string) {
	s.warnMu.Lock()
	k := string(id) + "\x00" + reason
	dup := s.warned[k]
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[k] = true
	s.warnMu.Unlock()
	if !dup {
		s.logger().Warn("pkcs11: key left out of the listing", "token", s.label, "id", fmt.Sprintf("%x", id), "reason", reason)
	}
}

// certs reads the X.509 certificate objects that may be listed, grouped
// by CKA_ID: private ones, and public ones written before certificates
// became private (see matchingCerts). The caller is logged in.
func (s *Store) certs(sh pkcs11.SessionHandle) (map[string][]storedCert, error) {
	objs, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]storedCert{}
	for _, o := range objs {
		v, err := s.attrs(sh, o, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_VALUE, pkcs11.CKA_PRIVATE)
		if err != nil || len(v[0]) == 0 {
			continue
		}
		out[string(v[0])] = append(out[string(v[0])], storedCert{
			Cert:    agent.Cert{GUN: string(v[1]), DER: v[2]},
			private: len(v[3]) == 1 && v[3][0] != 0,
		})
	}
	return out, nil
}

type storedCert struct {
	agent.Cert
	private bool
}

// matchingCerts keeps the certificates whose public key is pub: a
// certificate planted beside a key's CKA_ID for another key is dropped.
// Public certificate objects (StoreCertificate wrote them before it made
// them private) can be planted by anyone with access to the token, so
// they are also required to be self-signed by the key, as every root
// certificate the agent makes is.
//
// The exception is a CA certificate of a signing chain (StoreChain):
// private (only a session holding the PIN writes those), labelled
// "NAME:ROLE/N". The agent uses it only as a link of the chain whose leaf
// is the key's own certificate, checked link by link.
func matchingCerts(cs []storedCert, pub crypto.PublicKey) []agent.Cert {
	var out []agent.Cert
	for _, c := range cs {
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			continue
		}
		if c.private && chainLinkLabel(c.GUN) {
			out = append(out, c.Cert)
			continue
		}
		if eq, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
			continue
		}
		if !c.private && cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
			continue
		}
		out = append(out, c.Cert)
	}
	slices.SortFunc(out, func(a, b agent.Cert) int { return strings.Compare(a.GUN, b.GUN) })
	return out
}
