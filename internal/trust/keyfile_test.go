package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"
)

// TestParseKeyFile reads every PEM form docker and notary write, and says
// clearly what is wrong with the rest.
func TestParseKeyFile(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	tufEC, _ := utils.ECDSAToPrivateKey(ec)
	encPKCS8, err := utils.ConvertPrivateKeyToPKCS8(tufEC, "targets", "example.com/app", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	// Deprecated encryption, but DEK-Info files are what older docker and
	// notary versions exported, so key load must read them.
	legacyEC, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", sec1, []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	legacyRSA, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk), []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)

	pass := func(p string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(p), nil }
	}
	noPass := func(string) ([]byte, error) {
		t.Fatal("asked for a passphrase for an unencrypted key")
		return nil, nil
	}
	tests := []struct {
		name     string
		pem      []byte
		pass     func(string) ([]byte, error)
		wantPub  any
		wantRole string
		wantErr  string
	}{
		{"PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), noPass, &ec.PublicKey, "", ""},
		{"SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), noPass, &ec.PublicKey, "", ""},
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), noPass, &rk.PublicKey, "", ""},
		{"encrypted PKCS#8 with headers", encPKCS8, pass("s3cret"), &ec.PublicKey, "targets", ""},
		{"legacy DEK-Info EC", pem.EncodeToMemory(legacyEC), pass("s3cret"), &ec.PublicKey, "", ""},
		{"legacy DEK-Info RSA", pem.EncodeToMemory(legacyRSA), pass("s3cret"), &rk.PublicKey, "", ""},
		{"wrong passphrase PKCS#8", encPKCS8, pass("nope"), nil, "", "wrong passphrase"},
		{"wrong passphrase legacy", pem.EncodeToMemory(legacyEC), pass("nope"), nil, "", "wrong passphrase"},
		{"prompt refused", encPKCS8, func(string) ([]byte, error) { return nil, errors.New("no terminal") }, nil, "", "no terminal"},
		{"a public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), noPass, nil, "", "not a supported private key"},
		{"not PEM", []byte("hello"), noPass, nil, "", "no PEM private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kf, err := ParseKeyFile(tt.pem, tt.pass)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(kf.PKCS8)
			if err != nil {
				t.Fatalf("PKCS8 out: %v", err)
			}
			pub := priv.(crypto.Signer).Public()
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.wantPub) {
				t.Fatal("another key came out")
			}
			if kf.Role != tt.wantRole {
				t.Fatalf("role %q, want %q", kf.Role, tt.wantRole)
			}
		})
	}
}
