//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// signer is a key on the token as a crypto.Signer. It holds the key's
// CKA_ID, not an object handle: handles of private objects are only
// meaningful while logged in, and a signer listed while locked must work
// after Login.
//
// label is the CKA_LABEL the key was listed under and bind its bindings
// key: a signer listed while locked came from public objects, which any
// process can plant, so before its first signature the private key is
// checked to carry that label and match pub (see Store.verifyKey).
type signer struct {
	s     *Store
	id    []byte
	pub   crypto.PublicKey
	label string
	bind  string
}

func (k *signer) Public() crypto.PublicKey { return k.pub }

// Sign signs digest on the token, following the crypto.Signer contract:
// ECDSA signatures are ASN.1 DER (the token's raw r||s, converted); RSA
// is PSS when opts is *rsa.PSSOptions, else PKCS #1 v1.5. rand is unused:
// the token has its own randomness. Safe for concurrent use: each call
// takes its own session from the store's pool.
func (k *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := k.s.sign(k, pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest)
		if err != nil {
			return nil, err
		}
		return ecdsaDER(raw, (pub.Curve.Params().BitSize+7)/8)
	case *rsa.PublicKey:
		mech, input, err := rsaMechanism(digest, opts)
		if err != nil {
			return nil, err
		}
		return k.s.sign(k, mech, input)
	}
	return nil, fmt.Errorf("pkcs11: unsupported public key type %T", k.pub)
}

// ecdsaDER converts CKM_ECDSA's output, r||s at fixed width, to the ASN.1
// SEQUENCE { r INTEGER, s INTEGER } that crypto.Signer callers (x509,
// ecdsa.VerifyASN1) expect.
func ecdsaDER(raw []byte, size int) ([]byte, error) {
	if len(raw) != 2*size {
		return nil, fmt.Errorf("pkcs11: ECDSA signature is %d bytes, want %d", len(raw), 2*size)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(raw[:size]),
		new(big.Int).SetBytes(raw[size:]),
	})
}

// pssHashes maps a hash to the PKCS#11 hash and MGF1 for CKM_RSA_PKCS_PSS.
var pssHashes = map[crypto.Hash][2]uint{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// digestInfoPrefix is the DER DigestInfo header that PKCS #1 v1.5 puts
// before the digest; CKM_RSA_PKCS signs exactly what it is given, so we
// add it (as crypto/rsa does).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// rsaMechanism picks the mechanism and its input for an RSA signature.
//
// PSS salt: PSSSaltLengthEqualsHash and PSSSaltLengthAuto both get the
// hash length (32 bytes for SHA-256). Auto in crypto/rsa means "as long as
// fits" when signing, but verifiers with Auto accept any length, and TUF
// (notary) requires salt = hash length, so the hash length is the one
// choice that satisfies everyone. An explicit positive length is honoured.
func rsaMechanism(digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	h := opts.HashFunc()
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		algs, ok := pssHashes[h]
		if !ok {
			return nil, nil, fmt.Errorf("pkcs11: RSA-PSS with hash %v is not supported (SHA-256, SHA-384, SHA-512 are)", h)
		}
		salt := pss.SaltLength
		switch {
		case salt == rsa.PSSSaltLengthEqualsHash || salt == rsa.PSSSaltLengthAuto:
			salt = h.Size()
		case salt < 0:
			return nil, nil, fmt.Errorf("pkcs11: invalid PSS salt length %d", salt)
		}
		params := pkcs11.NewPSSParams(algs[0], algs[1], uint(salt))
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, nil
	}
	mech := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	if h == 0 {
		return mech, digest, nil // as rsa.SignPKCS1v15 with hash 0: sign the bytes as given
	}
	prefix, ok := digestInfoPrefix[h]
	if !ok {
		return nil, nil, fmt.Errorf("pkcs11: RSA PKCS #1 v1.5 with hash %v is not supported (SHA-256, SHA-384, SHA-512 are)", h)
	}
	return mech, append(append([]byte{}, prefix...), digest...), nil
}

// sign signs input with k's private key (the one with CKA_ID k.id).
func (s *Store) sign(k *signer, mech *pkcs11.Mechanism, input []byte) ([]byte, error) {
	id := k.id
	var sig []byte
	err := s.session(func(sh pkcs11.SessionHandle) error {
		if err := s.requireLogin(sh, "sign"); err != nil {
			return err
		}
		// Two tries: a cached handle can go stale (CKR_KEY_HANDLE_INVALID)
		// when another Store in the process logged out and in again, or the
		// object was deleted; the second try looks the key up afresh.
		for try := 0; ; try++ {
			h, err := s.privateKey(sh, id)
			if err != nil {
				return err
			}
			if k.bind == "" || !s.bound.ok(k.bind) {
				err := s.verifyKey(sh, h, id, k.label, k.pub)
				if _, fromToken := rv(err); fromToken {
					if stale(err) && try == 0 {
						s.handles.forget(id)
						continue
					}
					return err
				}
				if err != nil {
					return fmt.Errorf("pkcs11: key %x on token %q: %v; list the keys again: %w", id, s.label, err, agent.ErrDenied)
				}
			}
			err = s.p.SignInit(sh, []*pkcs11.Mechanism{mech}, h)
			if err == nil {
				sig, err = s.p.Sign(sh, input)
				if err == nil {
					return nil
				}
				// A failed C_Sign ends the operation, per the standard.
			}
			if stale(err) && try == 0 {
				s.handles.forget(id)
				continue
			}
			return wrap(fmt.Sprintf("sign with key %x", id), err)
		}
	})
	return sig, err
}

// stale reports whether err says an object handle is no longer valid.
func stale(err error) bool {
	return isRV(err, pkcs11.CKR_KEY_HANDLE_INVALID) || isRV(err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}

// privateKey finds the private key object with CKA_ID id, from the cache
// when it can.
func (s *Store) privateKey(sh pkcs11.SessionHandle, id []byte) (pkcs11.ObjectHandle, error) {
	if h, ok := s.handles.get(id); ok {
		return h, nil
	}
	// CKA_PRIVATE true: a "private key" object that is not private can be
	// planted without the PIN, with a key its planter knows.
	hs, err := s.find(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		if !s.loggedIn(sh) {
			return 0, fmt.Errorf("pkcs11: key %x: token %q: %w", id, s.label, agent.ErrLocked)
		}
		return 0, fmt.Errorf("pkcs11: no private key with id %x on token %q: %w", id, s.label, agent.ErrNotFound)
	case 1:
		s.handles.put(id, hs[0])
		return hs[0], nil
	}
	return 0, fmt.Errorf("pkcs11: %d private keys with id %x on token %q", len(hs), id, s.label)
}

// handleCache remembers private key handles by CKA_ID, saving three
// C_FindObjects* calls per signature. Login and Logout empty it.
type handleCache struct {
	mu sync.Mutex
	m  map[string]pkcs11.ObjectHandle
}

func (c *handleCache) get(id []byte) (pkcs11.ObjectHandle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[string(id)]
	return h, ok
}

func (c *handleCache) put(id []byte, h pkcs11.ObjectHandle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]pkcs11.ObjectHandle{}
	}
	c.m[string(id)] = h
}

func (c *handleCache) forget(id []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, string(id))
}

func (c *handleCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
