package tuf_test

import (
	"context"
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

// Attacks that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// TestRootMutants: Roots that hand part of the repository to a key held
// here for another purpose still need a person (A16, A18); a Root listing
// too many keys is refused before its keys are read (A31).
func TestRootMutants(t *testing.T) {
	f := newRootFixture(t, agent.Options{})
	otherSnap, err := f.k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleSnapshot, Name: "snapshot", GUN: "example.com/other/app"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		roles map[string]rootRole
		why   string
	}{
		// A16: a snapshot key held here, but bound to another repository.
		"another repository's snapshot key": {with(f.newRepo(), "snapshot", rootRole{[]tufKey{bareKey(t, otherSnap.PublicKey)}, 1}), "snapshot role names"},
		// A18 (a held non-root key in the root role) is caught by
		// TestReviewRootNonRootKeyInRootRole: through the agent, such a key
		// could come only under a certificate it signed itself, which the
		// agent never makes for a DCT key; under a certificate a throwaway
		// key issued for it, it is not taken as held at all.
		"a targets key's stranger-issued certificate in the root role": {with(f.newRepo(), "root", rootRole{[]tufKey{f.rootCert, certFor(t, f.targets.PublicKey, gunA)}, 1}), "not held by this agent"},
		// A31: more keys than a Root may list, counted before anything else
		// (here the extra keys ride in a fifth role, refused after).
		"65 keys listed": {with(f.newRepo(), "zzz", rootRole{manyKeys(t, 65), 1}), "at most 64"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.sign(rootPayload(2, c.roles))
			if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("err = %v, want a refusal saying %q", err, c.why)
			}
		})
	}
}

// certFor is a certificate for gun over the public key pubDER (PKIX),
// issued by a throwaway key: what a client can make for any key it sees.
func certFor(t *testing.T, pubDER []byte, gun string) tufKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: gun},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return certKey(der)
}
