//go:build cgo

package pivtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/trust-agent/trust-agent/piv/pivtest"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// TestCardRemoveInsert is the fixture's promise: a card piv-go can open,
// whose keys survive being unplugged and plugged back in.
func TestCardRemoveInsert(t *testing.T) {
	f := pivtest.Card(t)
	yk := f.Open(t)
	if got := yk.Version(); got != (piv.Version{Major: 5, Minor: 7, Patch: 1}) {
		t.Errorf("Version = %v, want 5.7.1", got)
	}
	pub, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotSignature, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyOnce, TouchPolicy: piv.TouchPolicyAlways,
	})
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	yk.Close()

	f.Remove(t)
	f.Insert(t)

	yk = f.Open(t)
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PIN: piv.DefaultPIN})
	if err != nil {
		t.Fatalf("PrivateKey: %v", err)
	}
	digest := sha256.Sum256([]byte("survives replug"))
	sig, err := priv.(crypto.Signer).Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
		t.Error("signature does not verify")
	}
	if n := f.Card.Touches(); n != 1 {
		t.Errorf("Touches = %d, want 1", n)
	}

	attCert, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatalf("AttestationCertificate: %v", err)
	}
	slotCert, err := yk.Attest(piv.SlotSignature)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	v := piv.Verifier{Roots: pivtest.Roots(t)}
	a, err := v.Verify(attCert, slotCert)
	if err != nil {
		t.Fatalf("Verify with fixture roots: %v", err)
	}
	if a.Serial != f.Card.Serial() || a.Slot != piv.SlotSignature || a.TouchPolicy != piv.TouchPolicyAlways {
		t.Errorf("attestation = %+v", a)
	}
	if _, err := piv.Verify(attCert, slotCert); err == nil {
		t.Error("piv.Verify (Yubico roots) accepted the fixture CA")
	}
}

// TestCardOlderFirmware checks the 3DES default and the OTP-applet serial
// path of firmware before 5.
func TestCardOlderFirmware(t *testing.T) {
	f := pivtest.CardWith(t, virtualcard.Options{Version: virtualcard.Version{Major: 4, Minor: 3, Patch: 5}, Serial: 4242})
	yk := f.Open(t)
	serial, err := yk.Serial()
	if err != nil || serial != 4242 {
		t.Fatalf("Serial = %d, %v; want 4242", serial, err)
	}
	if _, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotAuthentication, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever,
	}); err != nil {
		t.Fatalf("GenerateKey with the 3DES default key: %v", err)
	}
}
