//go:build cgo

package virtualcard_test

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/trust-agent/trust-agent/piv/pivtest"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// TestThroughPCSC drives the card with piv-go through pcscd and vpcd
// (skipped without them, failed under CI): the policies the agent
// backend depends on, seen by the real client.
func TestThroughPCSC(t *testing.T) {
	f := pivtest.CardWith(t, virtualcard.Options{Serial: 31337})
	yk := f.Open(t)
	if s, err := yk.Serial(); err != nil || s != 31337 {
		t.Fatalf("Serial = %d, %v", s, err)
	}
	pub, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotSignature, piv.Key{
		Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyAlways, TouchPolicy: piv.TouchPolicyAlways,
	})
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	info, err := yk.KeyInfo(piv.SlotSignature)
	if err != nil || info.PINPolicy != piv.PINPolicyAlways || info.Origin != piv.OriginGenerated {
		t.Fatalf("KeyInfo = %+v, %v", info, err)
	}

	prompts := 0
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PINPrompt: func() (string, error) {
		prompts++
		return piv.DefaultPIN, nil
	}})
	if err != nil {
		t.Fatalf("PrivateKey: %v", err)
	}
	digest := sha256.Sum256([]byte("x"))
	for range 2 {
		if _, err := priv.(crypto.Signer).Sign(nil, digest[:], crypto.SHA256); err != nil {
			t.Fatalf("Sign: %v", err)
		}
	}
	if prompts != 2 || f.Card.Touches() != 2 {
		t.Errorf("PIN always + touch always over 2 signatures: %d prompts, %d touches; want 2, 2", prompts, f.Card.Touches())
	}

	noPIN, _ := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PINPolicy: piv.PINPolicyNever})
	if _, err := noPIN.(crypto.Signer).Sign(nil, digest[:], crypto.SHA256); err == nil {
		t.Error("signing with PIN policy always and no VERIFY succeeded")
	}

	if err := yk.VerifyPIN("000000"); !errors.As(err, new(piv.AuthErr)) {
		t.Errorf("wrong PIN: %v, want AuthErr", err)
	}
	if n, err := yk.Retries(); err != nil || n != 2 {
		t.Errorf("Retries = %d, %v; want 2", n, err)
	}
	if _, err := yk.Certificate(piv.SlotAuthentication); !errors.Is(err, piv.ErrNotFound) {
		t.Errorf("empty certificate slot: %v, want ErrNotFound", err)
	}
}
