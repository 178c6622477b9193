//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestNonExtractable asks the token for the secret attributes of every
// private key made or imported: each answer must be CKR_ATTRIBUTE_SENSITIVE,
// and the key must be marked private, sensitive and not extractable.
func TestNonExtractable(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	var keys []agent.Key
	for _, alg := range []string{agent.AlgorithmECDSA, agent.AlgorithmRSA} {
		k, err := s.Generate(rootMeta, alg, 0)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, priv := range []crypto.Signer{ec, rs} {
		k, err := s.Import(ciMeta, priv)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	secret := map[string][]uint{
		"ecdsa": {pkcs11.CKA_VALUE},
		"rsa": {pkcs11.CKA_PRIVATE_EXPONENT, pkcs11.CKA_PRIME_1, pkcs11.CKA_PRIME_2,
			pkcs11.CKA_EXPONENT_1, pkcs11.CKA_EXPONENT_2, pkcs11.CKA_COEFFICIENT},
	}
	err := s.session(func(sh pkcs11.SessionHandle) error {
		objs, err := s.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
		if err != nil {
			return err
		}
		if len(objs) != len(keys) {
			t.Errorf("%d private key objects, want %d", len(objs), len(keys))
		}
		for _, o := range objs {
			v, err := s.attrs(sh, o, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE,
				pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SIGN)
			if err != nil {
				return err
			}
			alg := "ecdsa"
			if ulong(v[0]) == pkcs11.CKK_RSA {
				alg = "rsa"
			}
			for i, want := range []byte{1, 1, 1, 0, 1} { // token, private, sensitive, extractable, sign
				if len(v[i+1]) != 1 || v[i+1][0] != want {
					t.Errorf("%s key: attribute %d = %v, want %d", alg, i+1, v[i+1], want)
				}
			}
			if alg == "rsa" {
				// RSA private keys have no CKA_VALUE at all: SoftHSM says
				// CKR_ATTRIBUTE_TYPE_INVALID. Either refusal is fine here;
				// the real secrets are checked below.
				_, err := s.p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
				if !isRV(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) && !isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) {
					t.Errorf("rsa key: reading CKA_VALUE gave %v", err)
				}
			}
			for _, a := range secret[alg] {
				_, err := s.p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(a, nil)})
				if !isRV(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
					t.Errorf("%s key: reading attribute 0x%X gave %v, want CKR_ATTRIBUTE_SENSITIVE", alg, a, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWrongPIN: a wrong PIN is a *agent.PINError and, SoftHSM having no
// retry counter by default, does not block the token.
func TestWrongPIN(t *testing.T) {
	s := openStore(t, softhsmtest.LockedToken(t, testPIN))
	for i := 0; i < 5; i++ {
		err := s.Login([]byte("000000"))
		var pe *agent.PINError
		if !errors.As(err, &pe) || !errors.Is(err, agent.ErrPINIncorrect) {
			t.Fatalf("Login with a wrong PIN: %v, want *agent.PINError", err)
		}
		if pe.Retries != -1 {
			t.Errorf("Retries = %d, want -1 (SoftHSM does not say)", pe.Retries)
		}
		if !s.Locked() {
			t.Fatal("unlocked by a wrong PIN")
		}
	}
	ti, err := s.p.GetTokenInfo(s.slot)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Flags&(pkcs11.CKF_USER_PIN_LOCKED|pkcs11.CKF_USER_PIN_FINAL_TRY) != 0 {
		t.Errorf("token flags 0x%X after wrong PINs: blocked or final try", ti.Flags)
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatalf("Login with the right PIN after wrong ones: %v", err)
	}
	if s.Locked() {
		t.Fatal("still locked after Login")
	}
}

// TestWrongPINAtOpen: a wrong PIN in pin-source fails Open with a PINError.
func TestWrongPINAtOpen(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	other := softhsmtest.New(t, "999999")
	tok.PINFile = other.PINFile
	_, err := Open(tok.URI())
	var pe *agent.PINError
	if !errors.As(err, &pe) {
		t.Fatalf("Open with a wrong pin-source: %v, want *agent.PINError", err)
	}
}

func TestLockedRefusesSigning(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	k, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k) // fills the handle cache, which Logout must not let us use
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	if !s.Locked() {
		t.Fatal("not locked after Logout")
	}
	if err := s.Logout(); err != nil {
		t.Fatalf("second Logout: %v", err)
	}
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Sign while locked: %v, want ErrLocked", err)
	}
	if _, err := s.Generate(targetsMeta, "", 0); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Generate while locked: %v, want ErrLocked", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := s.Import(targetsMeta, ec); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Import while locked: %v, want ErrLocked", err)
	}
	keys, err := s.Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Keys while locked = %d keys, %v; want 1", len(keys), err)
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k)
}

// TestKeysSkipsForeignObjects: keys of other applications on a shared
// token are not listed.
func TestKeysSkipsForeignObjects(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	if _, err := s.Generate(ciMeta, "", 0); err != nil {
		t.Fatal(err)
	}
	params, _ := ecParams(elliptic.P256())
	err := s.session(func(sh pkcs11.SessionHandle) error {
		for _, label := range []string{"someone else's key", "dct:admin::", ""} {
			_, _, err := s.p.GenerateKeyPair(sh,
				[]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
					pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label+"x")),
				},
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
					pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label+"x")),
				})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Meta != ciMeta {
		t.Fatalf("Keys = %d keys (first %+v), want only the trust-agent key", len(keys), keys[0].Meta)
	}
}

// TestTwoStoresShareLogin documents PKCS#11's login model: login belongs
// to the process, so two Stores on one token see one state.
func TestTwoStoresShareLogin(t *testing.T) {
	tok := softhsmtest.New(t, testPIN)
	a := openStore(t, tok.URI())
	b := openStore(t, tok.LockedURI())
	if b.Locked() {
		t.Fatal("second store is locked although the process is logged in")
	}
	k, err := a.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Keys = %d, %v", len(keys), err)
	}
	signAndVerify(t, keys[0])
	if err := a.Logout(); err != nil {
		t.Fatal(err)
	}
	if !b.Locked() {
		t.Fatal("second store unlocked after the first logged out")
	}
	if _, err := keys[0].Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Sign through the second store after Logout: %v, want ErrLocked", err)
	}
	if err := b.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k) // a's signer, a cached handle from before the logout
}

func TestClosed(t *testing.T) {
	s, err := Open(softhsmtest.Token(t, testPIN))
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, errClosed) {
		t.Errorf("Sign after Close: %v", err)
	}
	if _, err := s.Keys(); !errors.Is(err, errClosed) {
		t.Errorf("Keys after Close: %v", err)
	}
	if !s.Locked() {
		t.Error("closed store is not locked")
	}
}
