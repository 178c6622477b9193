package attestation

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
	if pool, err := LoadRoots(""); pool != nil || err != nil {
		t.Fatalf(`LoadRoots("") = %v, %v; want nil (Yubico's roots)`, pool, err)
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
	if pool, err := LoadRoots(ok); err != nil || pool == nil {
		t.Fatalf("a file with the CA: %v, %v", pool, err)
	}
	for name, content := range map[string]string{
		"empty.pem":  "",
		"nocert.pem": "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
		"bad.pem":    "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
		"huge.pem":   string(ca) + strings.Repeat("#", MaxRootsFileBytes),
	} {
		if _, err := LoadRoots(write(name, content)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want a refusal naming the file", name, err)
		}
	}
	if _, err := LoadRoots(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestAttestedColumn(t *testing.T) {
	var none *KeyStatus
	for _, tt := range []struct {
		a    *KeyStatus
		want string
	}{
		{none, "-"},
		{&KeyStatus{Error: "attestation does not verify: x"}, "no: attestation does not verify: x"},
		{&KeyStatus{Verified: true, Serial: 7, Slot: "82", PINPolicy: "once", TouchPolicy: "never"}, "yes (serial 7, slot 82, pin once, touch never)"},
	} {
		if got := tt.a.Column(); got != tt.want {
			t.Errorf("Column() = %q, want %q", got, tt.want)
		}
	}
	// Keys on a backend that cannot attest are not asked for, whatever
	// their location looks like: the backend's abilities decide.
	if Attestable(agent.KeyInfo{Location: "piv:serial=1;slot=82"}) || !Attestable(agent.KeyInfo{Location: "x", Abilities: agent.Abilities{Attest: true}}) {
		t.Error("Attestable")
	}
	// An attestation of another key is "no".
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	info := agent.KeyInfo{PublicKey: mustPKIX(t, &k1.PublicKey)}
	if err := SameKey(info, &k1.PublicKey); err != nil {
		t.Errorf("same key: %v", err)
	}
	if err := SameKey(info, &k2.PublicKey); err == nil {
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

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
