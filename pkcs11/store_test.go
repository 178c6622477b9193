//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/uri"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

func TestGenerateSign(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	if s.Locked() {
		t.Fatal("store opened with pin-source is locked")
	}
	tests := []struct {
		name      string
		algorithm string
		bits      int
		check     func(crypto.PublicKey) bool
	}{
		{"default is P-256", "", 0, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }},
		{"ecdsa", agent.AlgorithmECDSA, 0, func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }},
		{"rsa default 3072", agent.AlgorithmRSA, 0, func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 3072 }},
		{"rsa 4096", agent.AlgorithmRSA, 4096, func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 4096 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bits == 4096 && testing.Short() {
				t.Skip("RSA-4096 generation is slow")
			}
			k, err := s.Generate(targetsMeta, tt.algorithm, tt.bits)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if !tt.check(k.Public()) {
				t.Fatalf("unexpected public key %T", k.Public())
			}
			if len(k.Handle) != idBytes || k.Meta != targetsMeta {
				t.Errorf("Handle %x, Meta %+v", k.Handle, k.Meta)
			}
			want := uri.URI{Token: s.label, ID: k.Handle, Object: targetsMeta.Label()}.String()
			if k.Location != want {
				t.Errorf("Location = %q, want %q", k.Location, want)
			}
			signAndVerify(t, k)
		})
	}
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	for _, tt := range []struct {
		meta      agent.KeyMeta
		algorithm string
		bits      int
	}{
		{targetsMeta, "ed25519", 0},
		{targetsMeta, agent.AlgorithmRSA, 2048},
		{targetsMeta, agent.AlgorithmECDSA, 521}, // P-256 and P-384 only
		{agent.KeyMeta{Role: "admin"}, "", 0},
		{agent.KeyMeta{Role: agent.RoleDelegation, Name: "Bad Name"}, "", 0},
	} {
		_, err := s.Generate(tt.meta, tt.algorithm, tt.bits)
		if !errors.Is(err, agent.ErrInvalidRequest) {
			t.Errorf("Generate(%+v, %q, %d) error = %v, want ErrInvalidRequest", tt.meta, tt.algorithm, tt.bits, err)
		}
	}
}

func TestImport(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, priv := range map[string]crypto.Signer{"P-256": p256, "P-384": p384, "RSA-2048": rsa2048} {
		t.Run(name, func(t *testing.T) {
			k, err := s.Import(ciMeta, priv)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.Public()) {
				t.Fatal("imported key's public key differs from the original")
			}
			signAndVerify(t, k)
		})
	}
	t.Run("refused", func(t *testing.T) {
		p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
		for _, priv := range []crypto.Signer{p224, rsa1024} {
			if _, err := s.Import(ciMeta, priv); !errors.Is(err, agent.ErrInvalidRequest) {
				t.Errorf("Import(%T) error = %v, want ErrInvalidRequest", priv, err)
			}
		}
	})
}

// TestReopen is an agent restart: a new Store on the same token, with no
// PIN yet, must list the keys with their metadata (certificates are
// private objects: they show once logged in), and sign once logged in.
func TestReopen(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	s, err := Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]agent.Key{}
	for _, m := range []struct {
		meta agent.KeyMeta
		alg  string
	}{{rootMeta, agent.AlgorithmECDSA}, {targetsMeta, agent.AlgorithmECDSA}, {ciMeta, agent.AlgorithmRSA}} {
		k, err := s.Generate(m.meta, m.alg, 0)
		if err != nil {
			t.Fatal(err)
		}
		made[string(k.Handle)] = k
	}
	root := findMeta(t, made, rootMeta)
	der := selfSigned(t, root, "registry.example/app")
	if err := s.StoreCertificate(root.Handle, "registry.example/app", der); err != nil {
		t.Fatalf("StoreCertificate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, tok.LockedURI())
	if !s.Locked() {
		t.Fatal("store opened without pin-source is not locked")
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatalf("Keys while locked: %v", err)
	}
	if len(keys) != len(made) {
		t.Fatalf("Keys while locked = %d keys, want %d", len(keys), len(made))
	}
	for _, k := range keys {
		m, ok := made[string(k.Handle)]
		if !ok {
			t.Fatalf("unexpected key %x", k.Handle)
		}
		if k.Meta != m.Meta || k.Location != m.Location || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(m.Public()) {
			t.Errorf("key %x: got %+v %q, want %+v %q", k.Handle, k.Meta, k.Location, m.Meta, m.Location)
		}
		if len(k.Certs) != 0 {
			t.Errorf("key %+v has %d certificates while locked, want none", k.Meta, len(k.Certs))
		}
		if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) {
			t.Errorf("Sign while locked: %v, want ErrLocked", err)
		}
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatalf("Login: %v", err)
	}
	for _, k := range keys {
		signAndVerify(t, k) // signers listed while locked work after Login
	}
	keys2, err := s.Keys()
	if err != nil || len(keys2) != len(made) {
		t.Fatalf("Keys after login = %d, %v; want %d keys", len(keys2), err, len(made))
	}
	for _, k := range keys2 {
		m := made[string(k.Handle)]
		if k.Meta != m.Meta || k.Location != m.Location || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(m.Public()) {
			t.Errorf("key %x after login: got %+v %q, want %+v %q", k.Handle, k.Meta, k.Location, m.Meta, m.Location)
		}
		wantCerts := 0
		if k.Meta == rootMeta {
			wantCerts = 1
			if len(k.Certs) == 1 && (k.Certs[0].GUN != "registry.example/app" || !bytes.Equal(k.Certs[0].DER, der)) {
				t.Errorf("root certificate = %q, %d bytes", k.Certs[0].GUN, len(k.Certs[0].DER))
			}
		}
		if len(k.Certs) != wantCerts {
			t.Errorf("key %+v has %d certificates, want %d", k.Meta, len(k.Certs), wantCerts)
		}
	}
}

func findMeta(t *testing.T, keys map[string]agent.Key, meta agent.KeyMeta) agent.Key {
	t.Helper()
	for _, k := range keys {
		if k.Meta == meta {
			return k
		}
	}
	t.Fatalf("no key %+v", meta)
	return agent.Key{}
}

// selfSigned makes a root certificate the way notary does, signing
// through the key's crypto.Signer, and checks it.
func selfSigned(t *testing.T, k crypto.Signer, gun string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: gun},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("self-signed certificate does not verify: %v", err)
	}
	return der
}

func TestX509(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	for _, alg := range []string{agent.AlgorithmECDSA, agent.AlgorithmRSA} {
		t.Run(alg, func(t *testing.T) {
			k, err := s.Generate(rootMeta, alg, 0)
			if err != nil {
				t.Fatal(err)
			}
			selfSigned(t, k, "docker.io/library/"+alg)
		})
	}
}

func TestStoreCertificateReplaces(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := selfSigned(t, k, "a/one")
	second := selfSigned(t, k, "a/one")
	other := selfSigned(t, k, "a/two")
	for _, c := range []struct {
		gun string
		der []byte
	}{{"a/one", first}, {"a/one", second}, {"a/two", other}} {
		if err := s.StoreCertificate(k.Handle, c.gun, c.der); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	certs := keys[0].Certs
	if len(certs) != 2 || certs[0].GUN != "a/one" || !bytes.Equal(certs[0].DER, second) || certs[1].GUN != "a/two" {
		t.Fatalf("certificates = %+v", certs)
	}
	if err := s.StoreCertificate([]byte("no such key"), "a/one", first); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("StoreCertificate for a missing key: %v, want ErrNotFound", err)
	}
	if err := s.StoreCertificate(k.Handle, "a/one", []byte("junk")); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("StoreCertificate of junk: %v, want ErrInvalidRequest", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	mod := "module-path=" + tok.ModulePath
	readable := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(readable, []byte(testPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		uri      string
		contains []string
	}{
		{"unknown token", "pkcs11:token=no-such-token?" + mod,
			[]string{`"no-such-token"`, "softhsm2-util --show-slots", tok.Label}},
		{"pin-value", "pkcs11:token=" + tok.Label + "?" + mod + "&pin-value=" + testPIN,
			[]string{"pin-value is refused", "pin-source=file:"}},
		{"relative module", "pkcs11:token=" + tok.Label + "?module-path=libsofthsm2.so",
			[]string{"absolute path to a regular file"}},
		{"no module", "pkcs11:token=" + tok.Label, []string{"no module-path"}},
		{"missing pin file", "pkcs11:token=" + tok.Label + "?" + mod + "&pin-source=file:/nonexistent/pin",
			[]string{"pin-source", "no such file"}},
		{"pin file readable by others", "pkcs11:token=" + tok.Label + "?" + mod + "&pin-source=file:" + readable,
			[]string{"pin-source", "chmod 600 " + readable}},
		{"not a module", "pkcs11:token=t?module-path=" + tok.PINFile, []string{"cannot load module"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.uri)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.uri)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "pkcs11: ") {
				t.Errorf("error %q lacks the pkcs11: prefix", msg)
			}
			for _, c := range tt.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("error %q does not contain %q", msg, c)
				}
			}
			if strings.Contains(msg, testPIN) {
				t.Errorf("error %q shows the PIN", msg)
			}
		})
	}
}

func TestName(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	s := openStore(t, tok.URI())
	if !strings.HasPrefix(s.Name(), "pkcs11:token="+tok.Label+";serial=") || strings.Contains(s.Name(), "pin") {
		t.Errorf("Name() = %q", s.Name())
	}
	if s.Kind() != "pkcs11" {
		t.Errorf("Kind() = %q", s.Kind())
	}
}
