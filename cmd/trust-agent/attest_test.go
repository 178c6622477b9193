package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

func TestLoadAttestationRoots(t *testing.T) {
	if pool, err := loadAttestationRoots(""); pool != nil || err != nil {
		t.Fatalf(`loadAttestationRoots("") = %v, %v; want nil (Yubico's roots)`, pool, err)
	}
	ca, err := virtualcard.AttestationCAPEM()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Other PEM blocks (a key, say) are passed over, as in a CA bundle.
	ok := write("ok.pem", "comment\n-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"+string(ca))
	if pool, err := loadAttestationRoots(ok); err != nil || pool == nil {
		t.Fatalf("a file with the CA: %v, %v", pool, err)
	}
	for name, content := range map[string]string{
		"empty.pem":  "",
		"nocert.pem": "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
		"bad.pem":    "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
		"huge.pem":   string(ca) + strings.Repeat("#", maxRootsFileBytes),
	} {
		if _, err := loadAttestationRoots(write(name, content)); err == nil || !strings.HasPrefix(err.Error(), "--attestation-roots: ") {
			t.Errorf("%s: err = %v, want a refusal naming the flag", name, err)
		}
	}
	if _, err := loadAttestationRoots(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestAttestedColumn(t *testing.T) {
	var none *keyAttestation
	for _, tt := range []struct {
		a    *keyAttestation
		want string
	}{
		{none, "-"},
		{&keyAttestation{Error: "attestation does not verify: x"}, "no: attestation does not verify: x"},
		{&keyAttestation{Verified: true, Serial: 7, Slot: "82", PINPolicy: "once", TouchPolicy: "never"}, "yes (serial 7, slot 82, pin once, touch never)"},
	} {
		if got := tt.a.column(); got != tt.want {
			t.Errorf("column() = %q, want %q", got, tt.want)
		}
	}
	// Keys on a backend that cannot attest are not asked for, whatever
	// their location looks like: the backend's abilities decide.
	if attestable(agent.KeyInfo{Location: "piv:serial=1;slot=82"}) || !attestable(agent.KeyInfo{Location: "x", Abilities: agent.Abilities{Attest: true}}) {
		t.Error("attestable")
	}
	// An attestation of another key is "no".
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	info := agent.KeyInfo{PublicKey: mustPKIX(t, &k1.PublicKey)}
	if err := sameKey(info, &k1.PublicKey); err != nil {
		t.Errorf("same key: %v", err)
	}
	if err := sameKey(info, &k2.PublicKey); err == nil {
		t.Error("another key passed")
	}
}

func mustPKIX(t *testing.T, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
