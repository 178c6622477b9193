//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// TestPrivateKeyOnlySigns: a key made here can sign and nothing else: no
// decrypting, unwrapping or deriving with it (D14-D16).
func TestPrivateKeyOnlySigns(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	if _, err := s.Generate(rootMeta, agent.AlgorithmECDSA, 0); err != nil {
		t.Fatal(err)
	}
	err := s.session(func(sh pkcs11.SessionHandle) error {
		objs, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
		if err != nil || len(objs) != 1 {
			t.Fatalf("%d private keys, %v; want 1", len(objs), err)
		}
		v, err := s.attrs(sh, objs[0], pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE)
		if err != nil {
			return err
		}
		for i, name := range []string{"CKA_DECRYPT", "CKA_UNWRAP", "CKA_DERIVE"} {
			if len(v[i]) != 1 || v[i][0] != 0 {
				t.Errorf("%s = %v, want false", name, v[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLockCheckedByTheStore: while logged out, signing and storing a
// certificate are refused by the Store's own check (the error names the
// operation and ErrLocked), before the token is asked; the lock must not
// rest on the token refusing private objects (D4, D12, D13).
func TestLockCheckedByTheStore(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	root, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	der := selfSigned(t, root, "example.com/a")
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) || !strings.Contains(err.Error(), "pkcs11: sign: token") {
		t.Errorf("Sign while locked: %v; want the Store's own refusal (pkcs11: sign: token …: locked)", err)
	}
	if err := s.StoreCertificate(root.Handle, "example.com/a", der); !errors.Is(err, agent.ErrLocked) || !strings.Contains(err.Error(), "pkcs11: store certificate: token") {
		t.Errorf("StoreCertificate while locked: %v; want the Store's own refusal", err)
	}
	// requireLogin itself, on a session that is not logged in.
	err = s.session(func(sh pkcs11.SessionHandle) error { return s.requireLogin(sh, "probe") })
	if !errors.Is(err, agent.ErrLocked) {
		t.Errorf("requireLogin on a logged-out session: %v, want ErrLocked", err)
	}
}

// TestTwoPublicObjectsRefused: a second public key object beside a key's
// CKA_ID (anyone may create public objects without the PIN) takes the key
// out of the listing, even for RSA, where the private object alone would
// give the public key (D10).
func TestTwoPublicObjectsRefused(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	k, err := s.Generate(ciMeta, agent.AlgorithmRSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	theirs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := newAttacker(t, s)
	a.create(
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, ciMeta.Label()),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.Handle),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, theirs.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(theirs.E)).Bytes()),
	)
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range keys {
		if string(got.Handle) == string(k.Handle) {
			t.Fatalf("key %x listed with two public key objects beside it", k.Handle)
		}
	}
}

// TestTwoPrivateKeysOneID: a second private key object given a key's
// CKA_ID (by another application holding the PIN) takes the key out of
// service whichever object the token lists first: the listing warns that
// two private keys share the id, and signing with it is refused (D7).
func TestTwoPrivateKeysOneID(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	var logged bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	k, err := s.Generate(ciMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, err := s.Import(ciMeta, theirs)
	if err != nil {
		t.Fatal(err)
	}
	err = s.session(func(sh pkcs11.SessionHandle) error {
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
			objs, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, other.Handle)})
			if err != nil || len(objs) != 1 {
				t.Fatalf("%d objects of class %d, %v", len(objs), class, err)
			}
			if class == pkcs11.CKO_PUBLIC_KEY {
				return s.p.DestroyObject(sh, objs[0])
			}
			if err := s.p.SetAttributeValue(sh, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, k.Handle)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.handles.reset()
	if _, err := s.Keys(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "two private keys share this CKA_ID") {
		t.Errorf("no warning that two private keys share the id; logged:\n%s", logged.String())
	}
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err == nil {
		t.Error("signed with a key whose CKA_ID two private keys share")
	}
}
