//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// idBytes is the length of the CKA_ID we give a key: random, so keys made
// by several agents on one token never collide, and shared by the private
// key, the public key and the key's certificates.
const idBytes = 16

// minImportRSABits refuses RSA keys too weak to protect a repository.
const minImportRSABits = 2048

// Generate makes a key pair on the token: ECDSA P-256 (algorithm "" or
// "ecdsa") or RSA ("rsa", bits 3072 (also for 0) or 4096). The private key
// is a token object that is private, sensitive and not extractable; the
// public key object (CKA_PRIVATE false) lets Keys list it while locked.
// Both carry CKA_LABEL = meta.Label() and one random CKA_ID.
func (s *Store) Generate(meta agent.KeyMeta, algorithm string, bits int) (agent.Key, error) {
	if err := checkMeta(meta); err != nil {
		return agent.Key{}, err
	}
	var (
		mech     *pkcs11.Mechanism
		pubAttrs []*pkcs11.Attribute
		keyType  uint
	)
	switch algorithm {
	case "", agent.AlgorithmECDSA:
		curve := elliptic.P256()
		switch bits {
		case 0, 256:
		case 384:
			curve = elliptic.P384()
		default:
			return agent.Key{}, fmt.Errorf("pkcs11: ECDSA keys are P-256 or P-384, not %d bits: %w", bits, agent.ErrInvalidRequest)
		}
		params, _ := ecParams(curve)
		mech, keyType = pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pkcs11.CKK_EC
		pubAttrs = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params)}
	case agent.AlgorithmRSA:
		if bits == 0 {
			bits = 3072
		}
		if bits != 3072 && bits != 4096 {
			return agent.Key{}, fmt.Errorf("pkcs11: RSA keys are 3072 or 4096 bits, not %d: %w", bits, agent.ErrInvalidRequest)
		}
		mech, keyType = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil), pkcs11.CKK_RSA
		pubAttrs = []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(65537).Bytes()),
		}
	default:
		return agent.Key{}, fmt.Errorf("pkcs11: unknown algorithm %q (ecdsa or rsa): %w", algorithm, agent.ErrInvalidRequest)
	}
	id, err := newID()
	if err != nil {
		return agent.Key{}, err
	}
	var key agent.Key
	err = s.session(func(sh pkcs11.SessionHandle) error {
		if err := s.requireLogin(sh, "generate"); err != nil {
			return err
		}
		pubT := append(publicTemplate(meta, id, keyType), pubAttrs...)
		privT := privateTemplate(meta, id, keyType)
		pubH, _, err := s.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{mech}, pubT, privT)
		if err != nil {
			return wrap("generate key pair", err)
		}
		pub, err := s.publicKey(sh, pubH, keyType)
		if err != nil {
			return err
		}
		key = s.newKey(meta, id, pub)
		s.bound.add(key.Signer.(*signer).bind) // made here: no need to probe
		return nil
	})
	return key, err
}

// Import stores priv (*ecdsa.PrivateKey on P-256 or P-384, or
// *rsa.PrivateKey of at least 2048 bits with two primes) on the token as a
// private, sensitive, non-extractable object, plus a public key object.
// The token marks it CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false:
// truthfully, it once lived outside. The caller should forget its copy.
func (s *Store) Import(meta agent.KeyMeta, priv crypto.Signer) (agent.Key, error) {
	if err := checkMeta(meta); err != nil {
		return agent.Key{}, err
	}
	id, err := newID()
	if err != nil {
		return agent.Key{}, err
	}
	var privAttrs, pubAttrs []*pkcs11.Attribute
	var keyType uint
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		keyType = pkcs11.CKK_EC
		privAttrs, pubAttrs, err = ecImportAttrs(k)
	case *rsa.PrivateKey:
		keyType = pkcs11.CKK_RSA
		privAttrs, pubAttrs, err = rsaImportAttrs(k)
	default:
		err = fmt.Errorf("pkcs11: cannot import a %T (ECDSA and RSA keys only): %w", priv, agent.ErrInvalidRequest)
	}
	if err != nil {
		return agent.Key{}, err
	}
	// Best effort at not leaving private key bytes in our memory; the
	// caller's key and the C copies are out of our hands.
	defer func() {
		for _, a := range privAttrs {
			clear(a.Value)
		}
	}()
	var key agent.Key
	err = s.session(func(sh pkcs11.SessionHandle) error {
		if err := s.requireLogin(sh, "import"); err != nil {
			return err
		}
		privH, err := s.p.CreateObject(sh, append(privateTemplate(meta, id, keyType), privAttrs...))
		if err != nil {
			return wrap("import private key", err)
		}
		pubH, err := s.p.CreateObject(sh, append(publicTemplate(meta, id, keyType), pubAttrs...))
		if err != nil {
			s.p.DestroyObject(sh, privH) // no half-imported key without a public object
			return wrap("import public key", err)
		}
		pub, err := s.publicKey(sh, pubH, keyType)
		if err != nil {
			return err
		}
		key = s.newKey(meta, id, pub)
		s.bound.add(key.Signer.(*signer).bind) // made here: no need to probe
		return nil
	})
	return key, err
}

func checkMeta(meta agent.KeyMeta) error {
	if _, err := agent.ParseLabel(meta.Label()); err != nil {
		return fmt.Errorf("pkcs11: %w: %w", agent.ErrInvalidRequest, err)
	}
	return nil
}

func newID() ([]byte, error) {
	id := make([]byte, idBytes)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("pkcs11: key id: %w", err)
	}
	return id, nil
}

// privateTemplate holds what makes a private key safe: a token object
// (CKA_TOKEN) that needs login (CKA_PRIVATE), whose secret attributes the
// token never reveals (CKA_SENSITIVE) or wraps out (CKA_EXTRACTABLE false),
// and that can only sign.
func privateTemplate(meta agent.KeyMeta, id []byte, keyType uint) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, meta.Label()),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
}

// publicTemplate: a public token object, readable without login so the
// key can be listed while the token is locked. Any process may write
// public objects without the PIN, so it is CKA_MODIFIABLE false: nobody
// can relabel it in place. It can still be destroyed and replaced, which
// is why Keys, once logged in, trusts the private key's label instead.
func publicTemplate(meta agent.KeyMeta, id []byte, keyType uint) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, meta.Label()),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
}

func ecImportAttrs(k *ecdsa.PrivateKey) (priv, pub []*pkcs11.Attribute, err error) {
	params, err := ecParams(k.Curve)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", err, agent.ErrInvalidRequest)
	}
	d, err := k.Bytes() // fixed width, as CKA_VALUE wants
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs11: import: %w", err)
	}
	point, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs11: import: %w", err)
	}
	// CKA_EC_POINT is DER: an OCTET STRING around the uncompressed point.
	wrapped := append([]byte{0x04}, derLength(len(point))...)
	wrapped = append(wrapped, point...)
	priv = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, d),
	}
	pub = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, wrapped),
	}
	return priv, pub, nil
}

// derLength encodes a DER length (short form below 128 bytes).
func derLength(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	return []byte{0x81, byte(n)} // points are at most 133 bytes (P-521)
}

func rsaImportAttrs(k *rsa.PrivateKey) (priv, pub []*pkcs11.Attribute, err error) {
	if bits := k.N.BitLen(); bits < minImportRSABits {
		return nil, nil, fmt.Errorf("pkcs11: RSA key of %d bits is too weak to import (at least %d): %w", bits, minImportRSABits, agent.ErrInvalidRequest)
	}
	if len(k.Primes) != 2 {
		return nil, nil, fmt.Errorf("pkcs11: multi-prime RSA keys cannot be imported: %w", agent.ErrInvalidRequest)
	}
	if err := k.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pkcs11: import: %w: %w", agent.ErrInvalidRequest, err)
	}
	k.Precompute()
	e := big.NewInt(int64(k.E)).Bytes()
	priv = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, k.Primes[0].Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, k.Primes[1].Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()),
	}
	pub = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, e),
	}
	return priv, pub, nil
}
