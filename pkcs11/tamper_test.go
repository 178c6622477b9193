//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// attacker is another program on the machine with access to the token
// but not the PIN. PKCS#11 login belongs to an application, so in this
// process a session is only "not logged in" while the store is logged
// out: the test logs the store out, writes through its own session (on
// the same module context, as a second program would through its own),
// and logs the store in again.
type attacker struct {
	t  *testing.T
	s  *Store
	sh pkcs11.SessionHandle
}

func newAttacker(t *testing.T, s *Store) *attacker {
	t.Helper()
	sh, err := s.p.OpenSession(s.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.p.CloseSession(sh) })
	si, err := s.p.GetSessionInfo(sh)
	if err != nil || si.State != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatalf("attacker session state %d, %v; want CKS_RW_PUBLIC_SESSION (not logged in)", si.State, err)
	}
	return &attacker{t, s, sh}
}

func (a *attacker) find(template ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	a.t.Helper()
	hs, err := a.s.find(a.sh, template)
	if err != nil {
		a.t.Fatal(err)
	}
	return hs
}

func (a *attacker) create(template ...*pkcs11.Attribute) {
	a.t.Helper()
	if _, err := a.s.p.CreateObject(a.sh, template); err != nil {
		a.t.Fatalf("attacker's C_CreateObject: %v", err)
	}
}

// replacePublic puts a public key object with CKA_ID id, label and the
// EC point of pub in place of the key's own. It tries to relabel in place
// first, which CKA_MODIFIABLE false must refuse.
func (a *attacker) replacePublic(id []byte, label string, pub *ecdsa.PublicKey) {
	a.t.Helper()
	hs := a.find(pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	if len(hs) != 1 {
		a.t.Fatalf("%d public objects with id %x", len(hs), id)
	}
	err := a.s.p.SetAttributeValue(a.sh, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
	if err == nil {
		a.t.Errorf("a session without login relabelled the public key object %x: it must be CKA_MODIFIABLE false", id)
	}
	if err := a.s.p.DestroyObject(a.sh, hs[0]); err != nil {
		a.t.Fatalf("attacker's C_DestroyObject: %v", err)
	}
	params, _ := ecParams(pub.Curve)
	point, _ := pub.Bytes()
	a.create(
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, append([]byte{0x04, byte(len(point))}, point...)),
	)
}

func (a *attacker) plantCert(id []byte, gun string, der []byte) {
	a.t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		a.t.Fatal(err)
	}
	a.create(
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, gun),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
	)
}

// TestTamperedObjects: what another program without the PIN can write to
// the token (public key objects, public certificates, "private" key
// objects that are CKA_PRIVATE false) must not change what Keys reports
// once logged in, nor what the store signs with.
func TestTamperedObjects(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	s := openStore(t, tok.URI())
	var logged bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))

	boundMeta := agent.KeyMeta{Role: agent.RoleTargets, Name: "targets", GUN: "example.com/a"}
	forgedMeta := agent.KeyMeta{Role: agent.RoleDelegation, Name: "zzz"}
	evilMeta := agent.KeyMeta{Role: agent.RoleRoot, Name: "evil"}
	bound, err := s.Generate(boundMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := s.Generate(ciMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	genuine := selfSigned(t, root, "example.com/a")
	if err := s.StoreCertificate(root.Handle, "example.com/a", genuine); err != nil {
		t.Fatal(err)
	}
	legacy := selfSigned(t, root, "example.com/legacy") // as earlier versions stored it: public

	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	a := newAttacker(t, s)
	theirs, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// 1. The targets key bound to example.com/a relabelled as an unbound
	// delegation key.
	a.replacePublic(bound.Handle, forgedMeta.Label(), bound.Public().(*ecdsa.PublicKey))
	// 2. A certificate for the attacker's key beside the root key's id.
	a.plantCert(root.Handle, "example.com/a", selfSigned(t, theirs, "example.com/a"))
	a.plantCert(root.Handle, "example.com/b", selfSigned(t, theirs, "example.com/b"))
	a.plantCert(root.Handle, "example.com/legacy", legacy)
	// 3. The ci key's public object swapped for the attacker's key, with
	// the right label: whoever trusts the listing would publish it.
	a.replacePublic(swapped.Handle, ciMeta.Label(), &theirs.PublicKey)
	// 4. A key the attacker knows, as a private key object that is not
	// CKA_PRIVATE, with a public object beside it.
	params, _ := ecParams(elliptic.P256())
	d, _ := theirs.Bytes()
	a.create(
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, evilMeta.Label()),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("evil")),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, d),
	)
	a.create(
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, evilMeta.Label()),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("evil")),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, append([]byte{0x04, 65}, must(theirs.PublicKey.Bytes())...)),
	)

	// Locked, the listing is the public objects' word, for display only:
	// forged labels show, certificates do not.
	locked, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var forgedSigner crypto.Signer
	for _, k := range locked {
		if len(k.Certs) != 0 {
			t.Errorf("key %+v lists %d certificates while locked", k.Meta, len(k.Certs))
		}
		if k.Meta == forgedMeta {
			forgedSigner = k
		}
	}
	if forgedSigner == nil {
		t.Fatal("the relabelled public object is not in the locked listing: the test planted nothing")
	}

	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		for _, k := range keys {
			t.Errorf("listed %+v (id %x)", k.Meta, k.Handle)
		}
		t.Fatalf("Keys after login = %d keys, want only the root key: the relabelled, swapped and planted ones left out", len(keys))
	}
	k := keys[0]
	if k.Meta != rootMeta || !bytes.Equal(k.Handle, root.Handle) || !k.Public().(*ecdsa.PublicKey).Equal(root.Public()) {
		t.Fatalf("listed %+v %x, want the root key", k.Meta, k.Handle)
	}
	if len(k.Certs) != 2 || k.Certs[0].GUN != "example.com/a" || !bytes.Equal(k.Certs[0].DER, genuine) ||
		k.Certs[1].GUN != "example.com/legacy" || !bytes.Equal(k.Certs[1].DER, legacy) {
		for _, c := range k.Certs {
			t.Errorf("certificate for %q, %d bytes", c.GUN, len(c.DER))
		}
		t.Fatal("root certificates: want the stored one and the legacy public self-signed one, not the planted ones")
	}
	for _, want := range []string{"relabelled", "another key than the private key"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logged.String())
		}
	}

	// A signer listed under the forged label while locked is refused.
	if _, err := forgedSigner.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrDenied) {
		t.Errorf("Sign with the key listed under a forged label: %v, want ErrDenied", err)
	}
	// Signers listed before the tampering, and the genuine key, still sign.
	signAndVerify(t, root)
	signAndVerify(t, bound)

	// A certificate is stored privately, and only for the key's own public key.
	if err := s.StoreCertificate(root.Handle, "example.com/c", selfSigned(t, theirs, "example.com/c")); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("StoreCertificate of a certificate for another key: %v, want ErrInvalidRequest", err)
	}
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreCertificate(root.Handle, "example.com/a", genuine); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("StoreCertificate while locked: %v, want ErrLocked", err)
	}
	a2 := newAttacker(t, s)
	if hs := a2.find(pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "example.com/a")); len(hs) != 1 {
		// The planted one only: the stored one is private.
		t.Errorf("a session without login sees %d certificates for example.com/a, want 1 (the planted one)", len(hs))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
