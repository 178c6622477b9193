package virtualcard

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
)

// Asymmetric algorithms (SP 800-78-4 table 5; E0/E1 are YubiKey 5.7's
// Ed25519 and X25519).
const (
	algRSA1024 = 0x06
	algRSA2048 = 0x07
	algRSA3072 = 0x05
	algRSA4096 = 0x16
	algP256    = 0x11
	algP384    = 0x14
	algEd25519 = 0xe0
	algX25519  = 0xe1
)

// PIN and touch policies (Yubico extensions, tags AA and AB).
const (
	pinDefault = 0x00
	pinNever   = 0x01
	pinOnce    = 0x02
	pinAlways  = 0x03

	touchDefault = 0x00
	touchNever   = 0x01
	touchAlways  = 0x02
	touchCached  = 0x03

	originGenerated = 0x01
	originImported  = 0x02
)

// Tags of the generation template and of key import.
const (
	tagGenTemplate = 0xac
	tagAlg         = 0x80
	tagPINPolicy   = 0xaa
	tagTouchPolicy = 0xab
	tagPublicKey   = 0x7f49
	tagRSAModulus  = 0x81
	tagRSAExponent = 0x82
	tagECPoint     = 0x86
)

// keySlot reports whether slot holds an asymmetric key the client may
// generate or import into: 9A, 9C, 9D, 9E and the retired 82–95; F9, the
// attestation key, only by import.
func keySlot(slot byte, importing bool) bool {
	switch {
	case slot == 0x9a, slot == 0x9c, slot == 0x9d, slot == 0x9e:
		return true
	case slot >= 0x82 && slot <= 0x95:
		return true
	case slot == slotAttestation:
		return importing
	}
	return false
}

// defaultPINPolicy is a YubiKey's policy when the client leaves it at 0:
// signature slot "always", card authentication "never", others "once".
func defaultPINPolicy(slot byte) byte {
	switch slot {
	case 0x9c:
		return pinAlways
	case 0x9e, slotAttestation:
		return pinNever
	}
	return pinOnce
}

// supportedAlg reports whether this firmware version knows alg. RSA-3072,
// RSA-4096, Ed25519 and X25519 arrived in 5.7, P-384 in 4.0.
func (c *Card) supportedAlg(alg byte) bool {
	switch alg {
	case algRSA1024, algRSA2048, algP256:
		return true
	case algP384:
		return c.version.atLeast(4, 0, 0)
	case algRSA3072, algRSA4096, algEd25519, algX25519:
		return c.version.atLeast(5, 7, 0)
	}
	return false
}

func rsaBits(alg byte) int {
	switch alg {
	case algRSA1024:
		return 1024
	case algRSA2048:
		return 2048
	case algRSA3072:
		return 3072
	case algRSA4096:
		return 4096
	}
	return 0
}

func ecCurve(alg byte) elliptic.Curve {
	switch alg {
	case algP256:
		return elliptic.P256()
	case algP384:
		return elliptic.P384()
	}
	return nil
}

// generatePrivate makes a new key for alg.
func generatePrivate(alg byte) (crypto.PrivateKey, error) {
	if bits := rsaBits(alg); bits != 0 {
		return rsa.GenerateKey(rand.Reader, bits)
	}
	if curve := ecCurve(alg); curve != nil {
		return ecdsa.GenerateKey(curve, rand.Reader)
	}
	switch alg {
	case algEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case algX25519:
		return ecdh.X25519().GenerateKey(rand.Reader)
	}
	return nil, errUnsupportedAlg
}

// publicKeyData is the content of a 7F49 public key template (SP 800-73-4
// part 2 table 12): 81 modulus and 82 exponent for RSA, 86 point for the
// rest (uncompressed for ECDSA, the raw 32 bytes for Ed25519 and X25519).
// GET METADATA's tag 04 carries the same bytes.
func publicKeyData(priv crypto.PrivateKey) []byte {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		b := tlvBytes(tagRSAModulus, k.N.Bytes())
		return appendTLV(b, tagRSAExponent, big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		pub, err := k.PublicKey.Bytes()
		if err != nil {
			return nil
		}
		return tlvBytes(tagECPoint, pub)
	case ed25519.PrivateKey:
		return tlvBytes(tagECPoint, k.Public().(ed25519.PublicKey))
	case *ecdh.PrivateKey:
		return tlvBytes(tagECPoint, k.PublicKey().Bytes())
	}
	return nil
}

// policies reads the AA and AB policy tags, filling in the slot's
// defaults. The biometric PIN policies (04, 05) exist only on a YubiKey
// Bio and are refused here.
func policies(tlvs []tlv, slot byte) (pp, tp byte, okay bool) {
	pp, tp = defaultPINPolicy(slot), touchNever
	if v, ok := find(tlvs, tagPINPolicy); ok {
		if len(v) != 1 || v[0] > pinAlways {
			return 0, 0, false
		}
		if v[0] != pinDefault {
			pp = v[0]
		}
	}
	if v, ok := find(tlvs, tagTouchPolicy); ok {
		if len(v) != 1 || v[0] > touchCached {
			return 0, 0, false
		}
		if v[0] != touchDefault {
			tp = v[0]
		}
	}
	return pp, tp, true
}

// generate is GENERATE ASYMMETRIC KEY PAIR (47): P2 slot, data
// AC {80 alg, AA pin policy, AB touch policy}; answers 7F49 {...}.
func (c *Card) generate(cmd command) response {
	if !c.s.mgmtAuthed {
		return fail(swSecurityStatus)
	}
	if cmd.p1 != 0 || !keySlot(cmd.p2, false) {
		return fail(swIncorrectP1P2)
	}
	outer, err := parseTLVs(cmd.data)
	if err != nil || len(outer) != 1 || outer[0].tag != tagGenTemplate {
		return fail(swIncorrectData)
	}
	tmpl, err := parseTLVs(outer[0].value)
	if err != nil {
		return fail(swIncorrectData)
	}
	alg, ok := find(tmpl, tagAlg)
	if !ok || len(alg) != 1 || !c.supportedAlg(alg[0]) {
		return fail(swIncorrectData)
	}
	pp, tp, ok := policies(tmpl, cmd.p2)
	if !ok {
		return fail(swIncorrectData)
	}
	priv, err := generatePrivate(alg[0])
	if err != nil {
		return fail(swMemoryFailure)
	}
	s, err := newSlotState(alg[0], pp, tp, originGenerated, priv)
	if err != nil {
		return fail(swMemoryFailure)
	}
	c.st.Slots[slotName(cmd.p2)] = s
	return c.saved(success(tlvBytes(tagPublicKey, publicKeyData(priv))))
}

// Import tags (Yubico's IMPORT ASYMMETRIC KEY): 01–05 are the RSA CRT
// parameters p, q, dP, dQ, qInv; 06 the EC private scalar; 07 the Ed25519
// seed; 08 the X25519 scalar.
const (
	tagImportP  = 0x01
	tagImportQ  = 0x02
	tagImportEC = 0x06
	tagImportEd = 0x07
	tagImportX  = 0x08
	rsaImportE  = 65537 // the only public exponent a YubiKey imports
)

// importKey is Yubico's IMPORT ASYMMETRIC KEY (FE): P1 algorithm, P2 slot.
func (c *Card) importKey(cmd command) response {
	if !c.s.mgmtAuthed {
		return fail(swSecurityStatus)
	}
	alg, slot := cmd.p1, cmd.p2
	if !keySlot(slot, true) {
		return fail(swIncorrectP1P2)
	}
	if !c.supportedAlg(alg) {
		return fail(swIncorrectP1P2)
	}
	tlvs, err := parseTLVs(cmd.data)
	if err != nil {
		return fail(swIncorrectData)
	}
	priv, err := importPrivate(alg, tlvs)
	if err != nil {
		return fail(swIncorrectData)
	}
	pp, tp, okay := policies(tlvs, slot)
	if !okay {
		return fail(swIncorrectData)
	}
	s, err := newSlotState(alg, pp, tp, originImported, priv)
	if err != nil {
		return fail(swMemoryFailure)
	}
	c.st.Slots[slotName(slot)] = s
	return c.saved(success(nil))
}

func importPrivate(alg byte, tlvs []tlv) (crypto.PrivateKey, error) {
	if bits := rsaBits(alg); bits != 0 {
		p, ok1 := find(tlvs, tagImportP)
		q, ok2 := find(tlvs, tagImportQ)
		if !ok1 || !ok2 {
			return nil, errBadImport
		}
		return rsaFromPrimes(new(big.Int).SetBytes(p), new(big.Int).SetBytes(q), bits)
	}
	if curve := ecCurve(alg); curve != nil {
		d, ok := find(tlvs, tagImportEC)
		if !ok || len(d) != (curve.Params().BitSize+7)/8 {
			return nil, errBadImport
		}
		return ecdsa.ParseRawPrivateKey(curve, d)
	}
	switch alg {
	case algEd25519:
		seed, ok := find(tlvs, tagImportEd)
		if !ok || len(seed) != ed25519.SeedSize {
			return nil, errBadImport
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case algX25519:
		d, ok := find(tlvs, tagImportX)
		if !ok {
			return nil, errBadImport
		}
		return ecdh.X25519().NewPrivateKey(d)
	}
	return nil, errUnsupportedAlg
}

// rsaFromPrimes rebuilds an RSA key from p and q with e = 65537; the
// other CRT values the client sent follow from them.
func rsaFromPrimes(p, q *big.Int, bits int) (*rsa.PrivateKey, error) {
	n := new(big.Int).Mul(p, q)
	if n.BitLen() != bits {
		return nil, errBadImport
	}
	one := big.NewInt(1)
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	e := big.NewInt(rsaImportE)
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		return nil, errBadImport
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: rsaImportE},
		D:         d,
		Primes:    []*big.Int{p, q},
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	k.Precompute()
	return k, nil
}
