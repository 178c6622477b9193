package virtualcard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Extensions Yubico puts in attestation certificates
// (developers.yubico.com/PIV/Introduction/PIV_attestation.html).
var (
	oidFirmware   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidSerial     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidPolicy     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
	oidFormFactor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 9}
)

// caSeedLabel derives the fixture CA's key. The CA is the same in every
// process (an Ed25519 key from a fixed seed, a certificate with fixed
// fields; Ed25519 signatures are deterministic, so even the bytes match):
// a test can trust AttestationCA() while the card runs in another process
// started by a script. Anyone can derive this key; it proves nothing
// outside tests, and piv.Verify (Yubico's roots) rejects it.
const caSeedLabel = "trust-agent virtualcard attestation CA v1 (TEST ONLY)"

// The fixture's validity window: fixed so the CA certificate is
// reproducible, wide so no test meets its end.
var (
	fixtureNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fixtureNotAfter  = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)
)

// fixtureCA is the CA, made once per process.
var fixtureCA = sync.OnceValues(newFixtureCA)

func newFixtureCA() (*caPair, error) {
	seed := sha256.Sum256([]byte(caSeedLabel))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Virtual YubiKey PIV Attestation CA (TEST ONLY)", Organization: []string{"trust-agent test fixture"}},
		NotBefore:             fixtureNotBefore,
		NotAfter:              fixtureNotAfter,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("virtualcard: creating fixture CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("virtualcard: parsing fixture CA: %w", err)
	}
	return &caPair{cert: cert, key: key}, nil
}

type caPair struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

// AttestationCA returns the fixture CA that signs every virtual card's
// attestation certificate (object 5FFF01), the counterpart of Yubico's
// PIV root. Use it as piv.Verifier{Roots: virtualcard.AttestationRoots()}.
func AttestationCA() (*x509.Certificate, error) {
	ca, err := fixtureCA()
	if err != nil {
		return nil, err
	}
	return ca.cert, nil
}

// AttestationRoots is a pool holding only AttestationCA.
func AttestationRoots() (*x509.CertPool, error) {
	ca, err := AttestationCA()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}

// AttestationCAPEM is AttestationCA as PEM, for tools outside Go
// (openssl verify, yubico-piv-tool's output).
func AttestationCAPEM() ([]byte, error) {
	ca, err := AttestationCA()
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil
}

// newAttestationKey makes the card's f9 key (P-256, like a current
// YubiKey's) and its certificate, signed by the fixture CA and stored as
// object 5FFF01 the way piv-go reads it back.
func (c *Card) newAttestationKey() error {
	ca, err := fixtureCA()
	if err != nil {
		return err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("virtualcard: %w", err)
	}
	serialExt, err := asn1.Marshal(int64(c.st.Serial))
	if err != nil {
		return fmt.Errorf("virtualcard: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("Virtual YubiKey PIV Attestation %d", c.st.Serial)},
		NotBefore:             fixtureNotBefore,
		NotAfter:              fixtureNotAfter,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
		ExtraExtensions: []pkix.Extension{
			{Id: oidFirmware, Value: []byte{c.version.Major, c.version.Minor, c.version.Patch}},
			{Id: oidSerial, Value: serialExt},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, priv.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("virtualcard: creating attestation certificate: %w", err)
	}
	s, err := newSlotState(algP256, pinNever, touchNever, originImported, priv)
	if err != nil {
		return err
	}
	c.st.Slots[slotName(slotAttestation)] = s
	c.st.Objects[objectName(objAttestation)] = certObject(der)
	return nil
}

// certObject is the content of a certificate data object (SP 800-73-4
// part 1 appendix A): 70 certificate, 71 CertInfo 00 (uncompressed), FE
// empty error detection code.
func certObject(der []byte) []byte {
	b := tlvBytes(0x70, der)
	b = appendTLV(b, 0x71, []byte{0x00})
	return appendTLV(b, 0xfe, nil)
}

// attestationCert parses the f9 certificate back from its object.
func (c *Card) attestationCert() (*x509.Certificate, error) {
	obj, ok := c.st.Objects[objectName(objAttestation)]
	if !ok {
		return nil, fmt.Errorf("virtualcard: no attestation certificate")
	}
	tlvs, err := parseTLVs(obj)
	if err != nil {
		return nil, err
	}
	der, ok := find(tlvs, 0x70)
	if !ok {
		return nil, fmt.Errorf("virtualcard: attestation object holds no certificate")
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] &= 0x7f // positive
	b[0] |= 0x01 // and never shorter than 16 bytes
	return new(big.Int).SetBytes(b)
}

// attest is Yubico's ATTEST (F9, P1 slot, firmware 4.3+): a certificate
// for the slot's public key, signed by the f9 key, naming the slot and
// carrying firmware, serial, policies and form factor. Only generated
// keys are attested; an empty or imported slot answers 6A80.
func (c *Card) attest(cmd command) response {
	if !c.version.atLeast(4, 3, 0) {
		return fail(swInsNotSupported)
	}
	slot := cmd.p1
	s, ok := c.st.Slots[slotName(slot)]
	if !ok || s.Origin != originGenerated || slot == slotAttestation {
		return fail(swIncorrectData)
	}
	f9, ok := c.st.Slots[slotName(slotAttestation)]
	if !ok {
		return fail(swIncorrectData)
	}
	issuer, err := c.attestationCert()
	if err != nil {
		return fail(swIncorrectData)
	}
	signer, err := f9.key()
	if err != nil {
		return fail(swMemoryFailure)
	}
	priv, err := s.key()
	if err != nil {
		return fail(swMemoryFailure)
	}
	serialExt, _ := asn1.Marshal(int64(c.st.Serial))
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("YubiKey PIV Attestation %02x", slot)},
		NotBefore:    issuer.NotBefore,
		NotAfter:     issuer.NotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: oidFirmware, Value: []byte{c.version.Major, c.version.Minor, c.version.Patch}},
			{Id: oidSerial, Value: serialExt},
			{Id: oidPolicy, Value: []byte{s.PINPolicy, s.TouchPolicy}},
			{Id: oidFormFactor, Value: []byte{c.form}},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, publicOf(priv), signer)
	if err != nil {
		return fail(swMemoryFailure)
	}
	return success(der)
}

// publicOf returns the public half of any key the card holds.
func publicOf(priv crypto.PrivateKey) crypto.PublicKey {
	if k, ok := priv.(interface{ Public() crypto.PublicKey }); ok {
		return k.Public()
	}
	return nil
}
