//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

const testPIN = "123456"

var (
	rootMeta    = agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}
	targetsMeta = agent.KeyMeta{Role: agent.RoleTargets, Name: "targets", GUN: "registry.example:5000/app"}
	ciMeta      = agent.KeyMeta{Role: agent.RoleDelegation, Name: "ci"}
)

// openStore opens uriString and closes the store when the test ends.
func openStore(t testing.TB, uriString string) *Store {
	t.Helper()
	s, err := Open(uriString)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// signAndVerify signs a SHA-256 digest with k the way notary does (ECDSA,
// or RSA-PSS with salt = hash length) and checks the signature with the
// standard library.
func signAndVerify(t testing.TB, k crypto.Signer) {
	t.Helper()
	digest := sha256.Sum256([]byte("canonical json of signed"))
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := k.Sign(rand.Reader, digest[:], opts)
		if err != nil {
			t.Fatalf("Sign PSS: %v", err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, opts); err != nil {
			t.Fatalf("PSS signature does not verify: %v", err)
		}
		sig, err = k.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign PKCS #1 v1.5: %v", err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("PKCS #1 v1.5 signature does not verify: %v", err)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}
