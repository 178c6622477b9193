//go:build cgo

package piv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// rootSlot holds the root key: 9c is PIV's "digital signature" slot.
var rootSlot = pivgo.SlotSignature

// otherSlots are tried in order for repository, delegation and snapshot
// keys, and (retired slots only) for root certificates: the 20 retired
// key-management slots 82–95 first, then 9a and 9d. 9e (card
// authentication, no PIN by design) is never used.
func otherSlots() []pivgo.Slot {
	var out []pivgo.Slot
	for k := uint32(0x82); k <= 0x95; k++ {
		s, _ := pivgo.RetiredKeyManagementSlot(k)
		out = append(out, s)
	}
	return append(out, pivgo.SlotAuthentication, pivgo.SlotKeyManagement)
}

func allSlots() []pivgo.Slot { return append([]pivgo.Slot{rootSlot}, otherSlots()...) }

func slotByKey(k byte) (pivgo.Slot, bool) {
	for _, s := range allSlots() {
		if s.Key == uint32(k) {
			return s, true
		}
	}
	return pivgo.Slot{}, false
}

// hasKeyInfo reports whether the card answers GET METADATA (INS F7) for
// slots: YubiKey firmware 5.3 and later.
func hasKeyInfo(yk *pivgo.YubiKey) bool {
	v := yk.Version()
	return v.Major > 5 || (v.Major == 5 && v.Minor >= 3)
}

// slotState is what a slot holds.
type slotState struct {
	cert   *x509.Certificate // nil: no certificate
	key    bool              // a private key (known only from firmware 5.3)
	info   pivgo.KeyInfo
	hasKey bool // info is valid
}

func readSlot(yk *pivgo.YubiKey, slot pivgo.Slot) (slotState, error) {
	var st slotState
	cert, err := yk.Certificate(slot)
	switch {
	case err == nil:
		st.cert = cert
	case !errors.Is(err, pivgo.ErrNotFound):
		return st, fmt.Errorf("reading the certificate of slot %x: %w", slot.Key, err)
	}
	if hasKeyInfo(yk) {
		info, err := yk.KeyInfo(slot)
		switch {
		case err == nil:
			st.info, st.hasKey, st.key = info, true, true
		case !errors.Is(err, pivgo.ErrNotFound):
			return st, fmt.Errorf("reading the metadata of slot %x: %w", slot.Key, err)
		}
	}
	return st, nil
}

// free: neither a certificate nor (as far as the card tells) a key.
func (st slotState) free() bool { return st.cert == nil && !st.key }

func location(serial uint32, slot pivgo.Slot) string {
	return fmt.Sprintf("piv:serial=%d;slot=%x", serial, slot.Key)
}

// Keys lists the slots whose certificate's subject CN is a trust-agent
// label, and gives the root key the root certificates kept in retired
// slots (see StoreCertificate). It needs no PIN.
func (s *Store) Keys() ([]agent.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []agent.Key
	err := s.withCard("listing keys", func(yk *pivgo.YubiKey) error {
		keys = nil
		var spare []*x509.Certificate // certificates in slots without a key
		for _, slot := range allSlots() {
			st, err := readSlot(yk, slot)
			if err != nil {
				return err
			}
			if st.cert == nil {
				continue
			}
			meta, err := agent.ParseLabel(st.cert.Subject.CommonName)
			if err != nil {
				if !st.key {
					spare = append(spare, st.cert)
				}
				continue
			}
			pub, ok := st.cert.PublicKey.(*ecdsa.PublicKey)
			if !ok {
				continue
			}
			if st.hasKey {
				// The key was replaced behind our back (ykman): the
				// certificate no longer describes it.
				if kp, ok := st.info.PublicKey.(*ecdsa.PublicKey); !ok || !kp.Equal(pub) {
					continue
				}
			} else if hasKeyInfo(yk) {
				continue // a certificate without a key
			}
			sg := &signer{s: s, slot: slot, pub: pub}
			if st.hasKey {
				sg.pp, sg.tp = st.info.PINPolicy, st.info.TouchPolicy
			}
			keys = append(keys, agent.Key{Signer: sg, Handle: []byte{byte(slot.Key)}, Meta: meta, Location: location(s.serial, slot)})
		}
		for i := range keys {
			if keys[i].Meta.Role == agent.RoleNotation || keys[i].Meta.Role == agent.RoleCosign {
				pub := keys[i].Public().(*ecdsa.PublicKey)
				for _, c := range spare {
					if cp, ok := c.PublicKey.(*ecdsa.PublicKey); ok && cp.Equal(pub) && codeSigning(c) {
						keys[i].Certs = append(keys[i].Certs, agent.Cert{GUN: agent.ChainLabel(keys[i].Meta.Name, keys[i].Meta.Role), DER: c.Raw})
					}
				}
			}
			if keys[i].Meta.Role != agent.RoleRoot {
				continue
			}
			pub := keys[i].Public().(*ecdsa.PublicKey)
			for _, c := range spare {
				if cp, ok := c.PublicKey.(*ecdsa.PublicKey); ok && cp.Equal(pub) {
					keys[i].Certs = append(keys[i].Certs, agent.Cert{GUN: c.Subject.CommonName, DER: c.Raw})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// policies returns the PIN and touch policies for a new key of role: the
// ones asked for, else the Store's defaults.
func (s *Store) policies(role agent.Role, asked agent.KeyPolicy) (pivgo.PINPolicy, pivgo.TouchPolicy) {
	pp, tp := s.opts.PINPolicy, s.opts.TouchPolicy
	if role == agent.RoleRoot {
		tp = s.opts.RootTouchPolicy
	}
	switch asked.PIN {
	case "once":
		pp = PINPolicyOnce
	case "always":
		pp = PINPolicyAlways
	}
	switch asked.Touch {
	case "never":
		tp = TouchPolicyNever
	case "cached":
		tp = TouchPolicyCached
	case "always":
		tp = TouchPolicyAlways
	}
	return pinPolicyOf(pp), touchPolicyOf(tp)
}

// pickSlot returns the slot for a new key of role: 9c for root, else the
// first free of 82–95, 9a, 9d.
func pickSlot(yk *pivgo.YubiKey, role agent.Role) (pivgo.Slot, error) {
	if role == agent.RoleRoot {
		st, err := readSlot(yk, rootSlot)
		if err != nil {
			return pivgo.Slot{}, err
		}
		if !st.free() {
			return pivgo.Slot{}, fmt.Errorf("slot 9c already holds a key or certificate; a PIV card holds one root key, and trust-agent never overwrites a slot: %w", agent.ErrInvalidRequest)
		}
		return rootSlot, nil
	}
	for _, slot := range otherSlots() {
		st, err := readSlot(yk, slot)
		if err != nil {
			return pivgo.Slot{}, err
		}
		if st.free() {
			return slot, nil
		}
	}
	return pivgo.Slot{}, fmt.Errorf("no free slot among 82–95, 9a and 9d: %w", agent.ErrInvalidRequest)
}

// Generate makes an EC P-256 key on the card, in slot 9c for a root key
// and the first free other slot otherwise, and stores in the slot a
// self-signed certificate (made with the new key) whose subject CN is
// meta.Label(). It needs the PIN (Login) and the management key Setup
// stored on the card. A root key with touch policy "always" needs a touch
// for that certificate.
func (s *Store) Generate(meta agent.KeyMeta, algorithm string, bits int) (agent.Key, error) {
	return s.GenerateWithPolicy(meta, algorithm, bits, agent.KeyPolicy{})
}

// GenerateWithPolicy is Generate with the key's PIN and touch policies
// chosen here instead of by the Store's Options.
func (s *Store) GenerateWithPolicy(meta agent.KeyMeta, algorithm string, bits int, policy agent.KeyPolicy) (agent.Key, error) {
	if algorithm != "" && algorithm != agent.AlgorithmECDSA {
		return agent.Key{}, fmt.Errorf("piv: only %s (P-256, P-384) keys are supported, not %q: %w", agent.AlgorithmECDSA, algorithm, agent.ErrInvalidRequest)
	}
	alg := pivgo.AlgorithmEC256
	switch bits {
	case 0, 256:
	case 384: // every YubiKey 4 and 5 has it
		alg = pivgo.AlgorithmEC384
	default:
		return agent.Key{}, fmt.Errorf("piv: ECDSA keys are P-256 or P-384, not %d bits: %w", bits, agent.ErrInvalidRequest)
	}
	return s.addKey("generating a key", meta, policy, func(yk *pivgo.YubiKey, mk []byte, slot pivgo.Slot, pp pivgo.PINPolicy, tp pivgo.TouchPolicy) (*ecdsa.PublicKey, error) {
		pub, err := yk.GenerateKey(mk, slot, pivgo.Key{Algorithm: alg, PINPolicy: pp, TouchPolicy: tp})
		if err != nil {
			return nil, err
		}
		ep, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("card returned a %T public key", pub)
		}
		return ep, nil
	})
}

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

type placeFunc func(yk *pivgo.YubiKey, mk []byte, slot pivgo.Slot, pp pivgo.PINPolicy, tp pivgo.TouchPolicy) (*ecdsa.PublicKey, error)

// addKey picks a slot, lets place put a key there, and certifies it. If
// the certificate cannot be made or stored, the key stays in its slot,
// which is then neither listed nor reused (on firmware 5.3+); ykman piv
// keys delete clears it.
func (s *Store) addKey(op string, meta agent.KeyMeta, policy agent.KeyPolicy, place placeFunc) (agent.Key, error) {
	// Keys lists only slots whose label parses: refuse up front what it
	// would not list (a key with no name, a targets key with no repository).
	if _, err := agent.ParseLabel(meta.Label()); err != nil {
		return agent.Key{}, fmt.Errorf("piv: %s: invalid key metadata: %w: %w", op, err, agent.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return agent.Key{}, err
	}
	var key agent.Key
	err = s.withCard(op, func(yk *pivgo.YubiKey) error {
		mk, err := managementKey(yk, pin)
		if err != nil {
			return err
		}
		slot, err := pickSlot(yk, meta.Role)
		if err != nil {
			return err
		}
		pp, tp := s.policies(meta.Role, policy)
		pub, err := place(yk, mk, slot, pp, tp)
		if err != nil {
			return err
		}
		priv, err := yk.PrivateKey(slot, pub, pivgo.KeyAuth{PIN: pin, PINPolicy: pp})
		if err != nil {
			return err
		}
		stop := s.touchNotice(slot, tp)
		cert, err := selfCertificate(meta.Label(), pub, priv.(crypto.Signer))
		stop()
		if err != nil {
			return err
		}
		if err := yk.SetCertificate(mk, slot, cert); err != nil {
			return fmt.Errorf("storing the certificate in slot %x: %w", slot.Key, err)
		}
		key = agent.Key{
			Signer:   &signer{s: s, slot: slot, pub: pub, pp: pp, tp: tp},
			Handle:   []byte{byte(slot.Key)},
			Meta:     meta,
			Location: location(s.serial, slot),
		}
		return nil
	})
	return key, err
}

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

// signer is a key on the card as a crypto.Signer. Each Sign opens the
// card, verifies the PIN as the slot's policy asks, signs and closes it.
type signer struct {
	s    *Store
	slot pivgo.Slot
	pub  *ecdsa.PublicKey
	pp   pivgo.PINPolicy // zero: piv-go asks the card (firmware 5.3+)
	tp   pivgo.TouchPolicy
}

func (k *signer) Public() crypto.PublicKey { return k.pub }

// Sign returns an ASN.1 DER ECDSA signature of digest (the card signs the
// digest; opts only names the hash). A wrong PIN (changed on the card
// since Login) returns *agent.PINError and locks the Store (withCard), so
// a stale PIN does not use up the tries.
func (k *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	pin, err := s.pinString()
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.withCard(fmt.Sprintf("signing with slot %x", k.slot.Key), func(yk *pivgo.YubiKey) error {
		priv, err := yk.PrivateKey(k.slot, k.pub, pivgo.KeyAuth{PIN: pin, PINPolicy: k.pp})
		if err != nil {
			return err
		}
		stop := s.touchNotice(k.slot, k.tp)
		defer stop()
		sig, err = priv.(crypto.Signer).Sign(rand.Reader, digest, opts)
		return err
	})
	return sig, err
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
		if err != nil || (meta.Role != agent.RoleNotation && meta.Role != agent.RoleCosign) || agent.ChainLabel(meta.Name, meta.Role) != label {
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
