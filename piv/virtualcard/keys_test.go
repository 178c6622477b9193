package virtualcard

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
)

// pubFromTemplate decodes the content of a 7F49 template.
func pubFromTemplate(t *testing.T, alg byte, tlvs []tlv) crypto.PublicKey {
	t.Helper()
	if bits := rsaBits(alg); bits != 0 {
		n, _ := find(tlvs, tagRSAModulus)
		e, _ := find(tlvs, tagRSAExponent)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() != bits {
			t.Fatalf("modulus has %d bits, want %d", pub.N.BitLen(), bits)
		}
		return pub
	}
	p, ok := find(tlvs, tagECPoint)
	if !ok {
		t.Fatalf("no 86 in % x", tlvs)
	}
	var err error
	var pub crypto.PublicKey
	switch alg {
	case algP256, algP384:
		pub, err = ecdsa.ParseUncompressedPublicKey(ecCurve(alg), p)
	case algEd25519:
		if len(p) != ed25519.PublicKeySize {
			t.Fatalf("Ed25519 point is %d bytes", len(p))
		}
		pub = ed25519.PublicKey(p)
	case algX25519:
		pub, err = ecdh.X25519().NewPublicKey(p)
	}
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	return pub
}

// pkcs1Pad is what piv-go sends for an RSA PKCS #1 v1.5 SHA-256 signature.
func pkcs1Pad(size int, digest []byte) []byte {
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	em := []byte{0x00, 0x01}
	em = append(em, bytes.Repeat([]byte{0xff}, size-3-len(prefix)-len(digest))...)
	em = append(em, 0x00)
	em = append(em, prefix...)
	return append(em, digest...)
}

func TestGenerateAndUse(t *testing.T) {
	digest := sha256.Sum256([]byte("trust-agent"))
	tests := []struct {
		alg  byte
		slow bool
	}{
		{algP256, false}, {algP384, false}, {algEd25519, false}, {algX25519, false},
		{algRSA1024, false}, {algRSA2048, false}, {algRSA3072, true}, {algRSA4096, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("alg %02x", tt.alg), func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("slow RSA key generation")
			}
			tc := newTestCard(t, Options{})
			tc.authDefault()
			pub := pubFromTemplate(t, tt.alg, tc.generate(0x9a, tt.alg, pinNever, touchNever))
			switch pub := pub.(type) {
			case *ecdsa.PublicKey:
				sig, sw := tc.sign(tt.alg, 0x9a, digest[:])
				if sw != swOK || !ecdsa.VerifyASN1(pub, digest[:], sig) {
					t.Fatalf("ECDSA: SW %04x, signature does not verify", sw)
				}
				peer, _ := ecdsa.GenerateKey(pub.Curve, rand.Reader)
				peerECDH, _ := peer.ECDH()
				secret, sw := tc.gaOp(tt.alg, 0x9a, tagExponent, peerECDH.PublicKey().Bytes())
				pubECDH, _ := pub.ECDH()
				want, _ := peerECDH.ECDH(pubECDH)
				if sw != swOK || !bytes.Equal(secret, want) {
					t.Fatalf("ECDH: SW %04x, secrets differ", sw)
				}
			case ed25519.PublicKey:
				msg := []byte("the whole message, not a digest")
				sig, sw := tc.sign(tt.alg, 0x9a, msg)
				if sw != swOK || !ed25519.Verify(pub, msg, sig) {
					t.Fatalf("Ed25519: SW %04x, signature does not verify", sw)
				}
				if _, sw := tc.gaOp(tt.alg, 0x9a, tagExponent, make([]byte, 32)); sw != swIncorrectData {
					t.Errorf("ECDH with Ed25519: SW %04x, want 6a80", sw)
				}
			case *ecdh.PublicKey:
				peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
				secret, sw := tc.gaOp(tt.alg, 0x9a, tagExponent, peer.PublicKey().Bytes())
				want, _ := peer.ECDH(pub)
				if sw != swOK || !bytes.Equal(secret, want) {
					t.Fatalf("X25519: SW %04x, secrets differ", sw)
				}
			case *rsa.PublicKey:
				sig, sw := tc.sign(tt.alg, 0x9a, pkcs1Pad(pub.Size(), digest[:]))
				if sw != swOK {
					t.Fatalf("RSA sign: SW %04x", sw)
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatalf("RSA signature: %v", err)
				}
				ct, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("secret"))
				pt, sw := tc.sign(tt.alg, 0x9a, ct)
				if sw != swOK || len(pt) != pub.Size() || !bytes.HasSuffix(pt, []byte("\x00secret")) {
					t.Fatalf("RSA decrypt: SW %04x, % x", sw, pt)
				}
				if _, sw := tc.sign(tt.alg, 0x9a, digest[:]); sw != swIncorrectData {
					t.Errorf("RSA with a short block: SW %04x, want 6a80", sw)
				}
			}
			if _, sw := tc.sign(algP256^tt.alg^algP384, 0x9a, digest[:]); sw != swIncorrectData {
				t.Errorf("wrong algorithm in P1: SW %04x, want 6a80", sw)
			}
		})
	}
}

func TestAlgorithmsByVersion(t *testing.T) {
	tc := newTestCard(t, Options{Version: Version{5, 6, 0}})
	tc.authDefault()
	for _, alg := range []byte{algEd25519, algX25519, algRSA3072, algRSA4096} {
		if _, sw := tc.cmd(insGenerate, 0, 0x9a, []byte{0xac, 0x03, 0x80, 0x01, alg}); sw != swIncorrectData {
			t.Errorf("alg %02x on 5.6.0: SW %04x, want 6a80", alg, sw)
		}
	}
	if _, sw := tc.cmd(insGenerate, 0, 0x9b, []byte{0xac, 0x03, 0x80, 0x01, algP256}); sw != swIncorrectP1P2 {
		t.Errorf("GENERATE into 9B: SW %04x, want 6a86", sw)
	}
}

func TestPINPolicies(t *testing.T) {
	digest := sha256.Sum256(nil)
	tc := newTestCard(t, Options{})
	tc.authDefault()
	tc.generate(0x9a, algP256, pinOnce, touchNever)
	tc.generate(0x9c, algP256, pinAlways, touchNever)
	tc.generate(0x9e, algP256, pinNever, touchNever)

	if _, sw := tc.sign(algP256, 0x9e, digest[:]); sw != swOK {
		t.Errorf("never: SW %04x", sw)
	}
	if _, sw := tc.sign(algP256, 0x9a, digest[:]); sw != swSecurityStatus {
		t.Errorf("once, no PIN: SW %04x, want 6982", sw)
	}
	if _, sw := tc.sign(algP256, 0x9c, digest[:]); sw != swSecurityStatus {
		t.Errorf("always, no PIN: SW %04x, want 6982", sw)
	}
	tc.verifyPIN(DefaultPIN)
	if _, sw := tc.sign(algP256, 0x9c, digest[:]); sw != swOK {
		t.Errorf("always, right after VERIFY: SW %04x", sw)
	}
	if _, sw := tc.sign(algP256, 0x9c, digest[:]); sw != swSecurityStatus {
		t.Errorf("always, second use of one VERIFY: SW %04x, want 6982", sw)
	}
	for range 2 {
		if _, sw := tc.sign(algP256, 0x9a, digest[:]); sw != swOK {
			t.Errorf("once, after VERIFY: SW %04x", sw)
		}
	}
	tc.verifyPIN(DefaultPIN)
	tc.must(insGetVersion, 0, 0, nil)
	if _, sw := tc.sign(algP256, 0x9c, digest[:]); sw != swSecurityStatus {
		t.Errorf("always, VERIFY not immediately before: SW %04x, want 6982", sw)
	}
}

func TestTouch(t *testing.T) {
	digest := sha256.Sum256(nil)
	var slots []byte
	allow := true
	tc := newTestCard(t, Options{Touch: func(slot byte) bool {
		slots = append(slots, slot)
		return allow
	}})
	tc.authDefault()
	tc.generate(0x9a, algP256, pinNever, touchAlways)
	tc.generate(0x9d, algP256, pinNever, touchCached)
	for range 2 {
		if _, sw := tc.sign(algP256, 0x9a, digest[:]); sw != swOK {
			t.Fatalf("touch always: SW %04x", sw)
		}
	}
	for range 2 {
		if _, sw := tc.sign(algP256, 0x9d, digest[:]); sw != swOK {
			t.Fatalf("touch cached: SW %04x", sw)
		}
	}
	if !bytes.Equal(slots, []byte{0x9a, 0x9a}) || tc.card.Touches() != 2 {
		// The touch for 9a is still fresh, so 9d's cached policy takes it.
		t.Errorf("touches for slots % x (count %d), want 9a 9a (2)", slots, tc.card.Touches())
	}
	allow = false
	if _, sw := tc.sign(algP256, 0x9a, digest[:]); sw != swSecurityStatus {
		t.Errorf("touch refused: SW %04x, want 6982", sw)
	}
}

// TestChaining stores an object over 255 bytes (chained in) and reads it
// back (61xx out), and checks that a chain cannot switch commands.
func TestChaining(t *testing.T) {
	tc := newTestCard(t, Options{})
	tc.authDefault()
	cert := bytes.Repeat([]byte{0xab}, 2000)
	obj := certObject(cert)
	put := append(unhex(t, "5c 03 5f c1 0a"), tlvBytes(tagDataObject, obj)...)
	tc.must(insPutData, 0x3f, 0xff, put)
	got := tc.must(insGetData, 0x3f, 0xff, unhex(t, "5c 03 5f c1 0a"))
	if !bytes.Equal(got, tlvBytes(tagDataObject, obj)) {
		t.Fatalf("GET DATA returned %d bytes, want %d", len(got), len(obj)+4)
	}

	if _, sw := tc.raw(append([]byte{claChaining, insPutData, 0x3f, 0xff, 0x03}, 1, 2, 3)); sw != swOK {
		t.Fatalf("first chained block: %04x", sw)
	}
	if _, sw := tc.raw([]byte{0x00, insGetVersion, 0, 0, 0}); sw != swLastCommandExpected {
		t.Errorf("other command in a chain: SW %04x, want 6883", sw)
	}
	if _, sw := tc.cmd(insPutData, 0x3f, 0xff, append(unhex(t, "5c 03 5f c1 0a 53 82 0c 00"), make([]byte, 0xc00)...)); sw != swNotEnoughMemory {
		t.Errorf("object over %d bytes: SW %04x, want 6a84", maxObjectSize, sw)
	}
	tc.must(insPutData, 0x3f, 0xff, unhex(t, "5c 03 5f c1 0a 53 00"))
	if _, sw := tc.cmd(insGetData, 0x3f, 0xff, unhex(t, "5c 03 5f c1 0a")); sw != swFileNotFound {
		t.Errorf("deleted object: SW %04x, want 6a82", sw)
	}
}

func TestImport(t *testing.T) {
	tc := newTestCard(t, Options{})
	tc.authDefault()

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d, _ := ec.Bytes()
	tc.must(insImportKey, algP256, 0x9c, append(tlvBytes(tagImportEC, d), 0xaa, 0x01, pinNever, 0xab, 0x01, touchNever))
	meta := tc.must(insGetMetadata, 0, 0x9c, nil)
	tlvs, _ := parseTLVs(meta)
	origin, _ := find(tlvs, tagMetaOrigin)
	pubData, _ := find(tlvs, tagMetaPublic)
	point, _ := ec.PublicKey.Bytes()
	if !bytes.Equal(origin, []byte{originImported}) || !bytes.Equal(pubData, tlvBytes(tagECPoint, point)) {
		t.Errorf("metadata after import: % x", meta)
	}
	if _, sw := tc.cmd(insAttest, 0x9c, 0, nil); sw != swIncorrectData {
		t.Errorf("ATTEST of an imported key: SW %04x, want 6a80", sw)
	}

	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	rk.Precompute()
	var data []byte
	for i, v := range []*big.Int{rk.Primes[0], rk.Primes[1], rk.Precomputed.Dp, rk.Precomputed.Dq, rk.Precomputed.Qinv} {
		data = appendTLV(data, uint32(i+1), v.FillBytes(make([]byte, 64)))
	}
	tc.must(insImportKey, algRSA1024, 0x9d, append(data, 0xaa, 0x01, pinNever))
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, &rk.PublicKey, []byte("imported"))
	pt, sw := tc.sign(algRSA1024, 0x9d, ct)
	if sw != swOK || !bytes.HasSuffix(pt, []byte("\x00imported")) {
		t.Errorf("decrypt with imported RSA key: SW %04x", sw)
	}

	seed := make([]byte, 32)
	rand.Read(seed)
	tc.must(insImportKey, algEd25519, 0x9e, tlvBytes(tagImportEd, seed))
	sig, sw := tc.sign(algEd25519, 0x9e, []byte("m"))
	if sw != swOK || !ed25519.Verify(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), []byte("m"), sig) {
		t.Errorf("Ed25519 imported: SW %04x", sw)
	}
	if _, sw := tc.cmd(insImportKey, algP256, 0x9a, tlvBytes(tagImportEC, d[:31])); sw != swIncorrectData {
		t.Errorf("short scalar: SW %04x, want 6a80", sw)
	}
}

func TestAttest(t *testing.T) {
	tc := newTestCard(t, Options{Serial: 7654321, FormFactor: FormFactorUSBCKeychain})
	tc.authDefault()
	pub := pubFromTemplate(t, algP384, tc.generate(0x9d, algP384, pinAlways, touchCached))
	der := tc.must(insAttest, 0x9d, 0, nil)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("attestation: %v", err)
	}
	obj := tc.must(insGetData, 0x3f, 0xff, unhex(t, "5c 03 5f ff 01"))
	outer, _ := parseTLVs(obj)
	inner, _ := parseTLVs(outer[0].value)
	f9der, _ := find(inner, 0x70)
	f9, err := x509.ParseCertificate(f9der)
	if err != nil {
		t.Fatalf("f9 certificate: %v", err)
	}
	roots, err := AttestationRoots()
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(f9)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("chain to the fixture CA: %v", err)
	}
	if !pub.(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("attested key is not the slot's key")
	}
	if leaf.Subject.CommonName != "YubiKey PIV Attestation 9d" {
		t.Errorf("subject %q", leaf.Subject.CommonName)
	}
	want := map[string][]byte{
		oidFirmware.String():   {5, 7, 1},
		oidSerial.String():     mustMarshal(t, 7654321),
		oidPolicy.String():     {pinAlways, touchCached},
		oidFormFactor.String(): {FormFactorUSBCKeychain},
	}
	for _, e := range leaf.Extensions {
		if w, ok := want[e.Id.String()]; ok {
			if !bytes.Equal(e.Value, w) {
				t.Errorf("extension %v = % x, want % x", e.Id, e.Value, w)
			}
			delete(want, e.Id.String())
		}
	}
	if len(want) != 0 {
		t.Errorf("missing extensions %v", want)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtureCADeterministic: a card in another process must chain to the
// same CA, byte for byte.
func TestFixtureCADeterministic(t *testing.T) {
	a, err := newFixtureCA()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newFixtureCA()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.cert.Raw, b.cert.Raw) {
		t.Error("two derivations of the fixture CA differ")
	}
}

func TestSetRetries(t *testing.T) {
	tc := newTestCard(t, Options{})
	tc.authDefault()
	if _, sw := tc.cmd(insSetRetries, 5, 4, nil); sw != swSecurityStatus {
		t.Errorf("without PIN: SW %04x, want 6982", sw)
	}
	tc.must(insChangeRef, 0, refPIN, append(pad8(DefaultPIN), pad8("11112222")...))
	tc.verifyPIN("11112222")
	tc.must(insSetRetries, 5, 4, nil)
	if _, sw := tc.cmd(insVerify, 0, refPIN, nil); sw != swOK {
		t.Errorf("still verified: %04x", sw)
	}
	tc.must(insSelect, selectByNameP1, 0, aidPIV)
	if _, sw := tc.cmd(insVerify, 0, refPIN, nil); sw != 0x63c5 {
		t.Errorf("PIN tries after SET RETRIES 5: SW %04x", sw)
	}
	if sw := tc.verifyPIN(DefaultPIN); sw != swOK {
		t.Errorf("SET RETRIES resets the PIN to the default: SW %04x", sw)
	}
	meta := tc.must(insGetMetadata, 0, refPUK, nil)
	if !bytes.HasSuffix(meta, []byte{0x06, 0x02, 4, 4}) {
		t.Errorf("PUK metadata % x, want 4 of 4 tries", meta)
	}
}

// TestStateReplug is the unplug/replug promise at the state-file level:
// a new Card from the same file has the same serial, version and keys.
func TestStateReplug(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.json")
	tc := newTestCard(t, Options{StatePath: path, Version: Version{5, 4, 3}})
	tc.authDefault()
	tc.generate(0x9a, algP256, pinOnce, touchNever)
	tc.must(insChangeRef, 0, refPIN, append(pad8(DefaultPIN), pad8("24682468")...))
	meta := tc.must(insGetMetadata, 0, 0x9a, nil)

	again := newTestCard(t, Options{StatePath: path})
	if again.card.Serial() != tc.card.Serial() || again.card.Version() != (Version{5, 4, 3}) {
		t.Errorf("replugged: serial %d version %v, want %d 5.4.3", again.card.Serial(), again.card.Version(), tc.card.Serial())
	}
	if got := again.must(insGetMetadata, 0, 0x9a, nil); !bytes.Equal(got, meta) {
		t.Errorf("slot 9a metadata differs after replug")
	}
	if sw := again.verifyPIN("24682468"); sw != swOK {
		t.Errorf("changed PIN lost: %04x", sw)
	}
	if sw := again.auth(alg3DES, DefaultManagementKey); sw != swOK {
		t.Errorf("5.4.3 card's 3DES key after replug: %04x", sw)
	}
}
