package tuf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// TestRootKeyUnderStrangersCertificate: anyone can issue a certificate for
// the agent's root public key (CN the repository, any validity: one hour
// here), and notary's clients take any leaf whose CN is the repository.
// A Root whose root role is such a certificate is not "the root key held
// here": the certificate, and so when the repository's trust ends, is a
// stranger's. It needs a person's yes (refused without askpass), while
// the agent's own self-signed certificate for the same key signs
// unattended. Found by internal/hostile root/foreign-issued-root-certificate.
func TestRootKeyUnderStrangersCertificate(t *testing.T) {
	f := newRootFixture(t, agent.Options{})
	if _, err := f.sign(rootPayload(2, f.newRepo())); err != nil {
		t.Fatalf("the agent's own root certificate: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(f.root.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: gunA},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: "a stranger"}, PublicKey: &ca.PublicKey}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ca)
	if err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string][]tufKey{
		"alone":            {certKey(der)},
		"beside ours":      {f.rootCert, certKey(der)},
		"as targets' cert": nil, // below
	} {
		roles := with(f.newRepo(), "root", rootRole{keys, 1})
		if keys == nil {
			tdef, err := x509.ParsePKIXPublicKey(f.targets.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			tder, err := x509.CreateCertificate(rand.Reader, tmpl, parent, tdef, ca)
			if err != nil {
				t.Fatal(err)
			}
			roles = with(f.newRepo(), "targets", rootRole{[]tufKey{certKey(tder)}, 1})
		}
		_, err := f.sign(rootPayload(2, roles))
		if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "not held by this agent") {
			t.Errorf("%s: err = %v, want a refusal saying the key is not held by this agent", name, err)
		}
	}
}
