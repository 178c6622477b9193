//go:build cgo

package piv

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/agent/backend"
	"github.com/trust-agent/trust-agent/piv/pivtest"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

const (
	testPIN = "24681357"
	testPUK = "87654321"
)

var (
	rootMeta    = agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}
	targetsMeta = agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: "registry.example:5000/app"}
	ciMeta      = agent.KeyMeta{Role: agent.RoleDelegation, Name: "ci"}
)

// setUpCard is a virtual card after `trust-agent piv setup`.
func setUpCard(t *testing.T, vo virtualcard.Options) *pivtest.Fixture {
	t.Helper()
	f := pivtest.CardWith(t, vo)
	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN,
		OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return f
}

// openStore opens the fixture's card and, with pin set, logs in.
func openStore(t *testing.T, f *pivtest.Fixture, opts Options, pin string) *Store {
	t.Helper()
	opts.Serial = f.Card.Serial()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if !s.Locked() {
		t.Fatal("a new Store is not locked")
	}
	if pin != "" {
		if err := s.Login([]byte(pin)); err != nil {
			t.Fatalf("Login: %v", err)
		}
	}
	return s
}

func signAndVerify(t *testing.T, k crypto.Signer) {
	t.Helper()
	digest := sha256.Sum256([]byte("signed " + time.Now().String()))
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signature does not verify")
	}
}

func TestGenerateSignAndList(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	if want := fmt.Sprintf("piv:serial=%d", f.Card.Serial()); s.Name() != want || s.Kind() != "piv" {
		t.Errorf("Name, Kind = %q, %q", s.Name(), s.Kind())
	}
	want := map[byte]agent.KeyMeta{0x9c: rootMeta, 0x82: targetsMeta, 0x83: ciMeta}
	for _, m := range []agent.KeyMeta{rootMeta, targetsMeta, ciMeta} {
		k, err := s.Generate(m, agent.AlgorithmECDSA, 0)
		if err != nil {
			t.Fatalf("Generate(%+v): %v", m, err)
		}
		if len(k.Handle) != 1 || want[k.Handle[0]] != m {
			t.Errorf("Generate(%+v) went to slot %x", m, k.Handle)
		}
		if loc := fmt.Sprintf("piv:serial=%d;slot=%x", f.Card.Serial(), k.Handle[0]); k.Location != loc {
			t.Errorf("Location = %q, want %q", k.Location, loc)
		}
		if p := k.Public().(*ecdsa.PublicKey); p.Curve != elliptic.P256() {
			t.Errorf("curve %v", p.Curve)
		}
		signAndVerify(t, k)
	}
	// Metadata Keys would not list is refused before anything is made.
	for _, m := range []agent.KeyMeta{{Role: agent.RoleDelegation}, {Role: agent.RoleTargets, Name: "repo"}} {
		if _, err := s.Generate(m, "", 0); !errors.Is(err, agent.ErrInvalidRequest) {
			t.Errorf("Generate(%+v): %v, want ErrInvalidRequest", m, err)
		}
	}
	if _, err := s.Generate(agent.KeyMeta{Role: agent.RoleRoot, Name: "root2"}, "", 0); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("second root key: %v, want ErrInvalidRequest", err)
	}
	if _, err := s.Generate(targetsMeta, agent.AlgorithmRSA, 3072); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("RSA: %v, want ErrInvalidRequest", err)
	}

	// A new Store (as after an agent restart) finds the keys from the
	// certificates, before any PIN.
	s2 := openStore(t, f, Options{}, "")
	keys, err := s2.Keys()
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if len(keys) != 3 {
		t.Fatalf("Keys found %d keys, want 3", len(keys))
	}
	for _, k := range keys {
		if want[k.Handle[0]] != k.Meta {
			t.Errorf("slot %x: Meta %+v, want %+v", k.Handle[0], k.Meta, want[k.Handle[0]])
		}
	}
	if _, err := keys[1].Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Sign while locked: %v, want ErrLocked", err)
	}
	if err := s2.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		signAndVerify(t, k)
	}
	if err := s2.Logout(); err != nil || !s2.Locked() {
		t.Errorf("Logout: %v, Locked %v", err, s2.Locked())
	}
	if _, err := s2.Generate(ciMeta, "", 0); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Generate while locked: %v, want ErrLocked", err)
	}
}

func TestNotSetUp(t *testing.T) {
	f := pivtest.Card(t)
	s := openStore(t, f, Options{}, pivgo.DefaultPIN)
	_, err := s.Generate(targetsMeta, "", 0)
	if !errors.Is(err, errNotSetUp) {
		t.Fatalf("Generate on a card not set up: %v, want errNotSetUp", err)
	}
	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: "000000", NewPIN: testPIN, OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}); !errors.Is(err, agent.ErrPINIncorrect) {
		t.Errorf("Setup with a wrong PIN: %v, want ErrPINIncorrect", err)
	}
	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: pivgo.DefaultPIN, NewPIN: testPIN, OldPUK: pivgo.DefaultPUK, NewPUK: testPUK}); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if err := Setup(SetupOptions{Serial: f.Card.Serial(), OldPIN: testPIN, NewPIN: testPIN, OldPUK: testPUK, NewPUK: testPUK}); err == nil {
		t.Error("Setup of a card already set up succeeded")
	}
	if err := s.Login([]byte(pivgo.DefaultPIN)); !errors.Is(err, agent.ErrPINIncorrect) {
		t.Errorf("default PIN after setup: %v", err)
	}
}

func TestWrongAndBlockedPIN(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, "")
	err := s.Login([]byte("11111111"))
	var pe *agent.PINError
	if !errors.As(err, &pe) || pe.Retries != 2 || errors.Is(err, agent.ErrPINBlocked) {
		t.Fatalf("wrong PIN: %v, want PINError with 2 retries", err)
	}
	if !s.Locked() {
		t.Error("unlocked by a wrong PIN")
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatalf("right PIN after a wrong one: %v", err)
	}
	for i := 0; i < 3; i++ {
		err = s.Login([]byte("11111111"))
	}
	if !errors.As(err, &pe) || pe.Retries != 0 || !errors.Is(err, agent.ErrPINBlocked) {
		t.Fatalf("third wrong PIN: %v, want blocked", err)
	}
	if err := s.Login([]byte(testPIN)); !errors.Is(err, agent.ErrPINBlocked) {
		t.Errorf("right PIN once blocked: %v, want ErrPINBlocked", err)
	}
	if !s.Locked() {
		t.Error("unlocked while blocked")
	}
}

func TestPINPolicyAlways(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{PINPolicy: PINPolicyAlways}, testPIN)
	k, err := s.Generate(ciMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k)
	signAndVerify(t, k)
	att, slot, err := s.Attest(k.Handle[0])
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAttestation(pivtest.Roots(t), att, slot)
	if err != nil {
		t.Fatal(err)
	}
	if a.PINPolicy != PINPolicyAlways || a.TouchPolicy != TouchPolicyNever {
		t.Errorf("attested policies %v, %v", a.PINPolicy, a.TouchPolicy)
	}
}

func TestRemoveInsert(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k)
	f.Remove(t)
	time.Sleep(virtualcard.ReinsertDelay) // let pcscd notice
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrDeviceUnavailable) {
		t.Errorf("Sign with the card removed: %v, want ErrDeviceUnavailable", err)
	}
	if _, err := s.Keys(); !errors.Is(err, agent.ErrDeviceUnavailable) {
		t.Errorf("Keys with the card removed: %v, want ErrDeviceUnavailable", err)
	}
	f.Insert(t)
	signAndVerify(t, k)
	keys, err := s.Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Keys after re-insert: %d, %v", len(keys), err)
	}
}

func TestAttestation(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	att, slot, err := s.Attest(0x9c)
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAttestation(pivtest.Roots(t), att, slot)
	if err != nil {
		t.Fatalf("VerifyAttestation: %v", err)
	}
	if a.Serial != f.Card.Serial() || a.Slot != 0x9c || a.TouchPolicy != TouchPolicyAlways || a.PINPolicy != PINPolicyOnce {
		t.Errorf("attestation %+v", a)
	}
	if !slot.PublicKey.(*ecdsa.PublicKey).Equal(k.Public()) {
		t.Error("attested key is not the generated key")
	}
	if _, err := VerifyAttestation(nil, att, slot); err == nil {
		t.Error("Yubico's roots accepted the virtual card")
	}

	// A forged attestation: our own "attestation" CA vouching for the
	// same public key.
	fk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ftmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Yubico PIV Attestation"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	fder, _ := x509.CreateCertificate(rand.Reader, ftmpl, ftmpl, &fk.PublicKey, fk)
	fatt, _ := x509.ParseCertificate(fder)
	stmpl := *slot
	sder, err := x509.CreateCertificate(rand.Reader, &stmpl, fatt, k.Public(), fk)
	if err != nil {
		t.Fatal(err)
	}
	fslot, _ := x509.ParseCertificate(sder)
	if _, err := VerifyAttestation(pivtest.Roots(t), fatt, fslot); err == nil {
		t.Error("forged attestation accepted")
	}
	if _, err := VerifyAttestation(pivtest.Roots(t), att, fslot); err == nil {
		t.Error("slot certificate not signed by the card's attestation key accepted")
	}
}

// TestRootCertificate makes a root certificate the way the agent does
// (x509.CreateCertificate with the card's signer) and stores it.
func TestRootCertificate(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	certify := func(gun string) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: gun},
			NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Signer)
		if err != nil {
			t.Fatalf("CreateCertificate with the card: %v", err)
		}
		return der
	}
	const gun = "registry.example:5000/app"
	if err := s.StoreCertificate(k.Handle, gun, certify(gun)); err != nil {
		t.Fatalf("StoreCertificate: %v", err)
	}
	second := certify(gun)
	if err := s.StoreCertificate(k.Handle, gun, second); err != nil {
		t.Fatalf("StoreCertificate again: %v", err)
	}
	if err := s.StoreCertificate(k.Handle, "other/repo", certify("other/repo")); err != nil {
		t.Fatal(err)
	}
	// A repository key still gets a slot of its own.
	tk, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Handle[0] != 0x84 {
		t.Errorf("targets key in slot %x, want 84 (82, 83 hold root certificates)", tk.Handle[0])
	}
	keys, err := openStore(t, f, Options{}, "").Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Meta != rootMeta {
		t.Fatalf("keys %+v", keys)
	}
	certs := keys[0].Certs
	if len(certs) != 2 || certs[0].GUN != gun || string(certs[0].DER) != string(second) || certs[1].GUN != "other/repo" {
		t.Errorf("root certificates %+v", certs)
	}
	if err := s.StoreCertificate(tk.Handle, gun, second); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("certificate for a non-root key: %v", err)
	}
}

func TestImport(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := openStore(t, f, Options{}, testPIN)
	if _, err := s.Import(targetsMeta, priv); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Fatalf("Import without AllowImport: %v", err)
	}
	s = openStore(t, f, Options{AllowImport: true}, testPIN)
	k, err := s.Import(targetsMeta, priv)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !priv.PublicKey.Equal(k.Public()) {
		t.Error("imported key's public key differs")
	}
	signAndVerify(t, k)
	if _, _, err := s.Attest(k.Handle[0]); err == nil {
		t.Error("an imported key was attested")
	}
	if _, err := s.AttestationChain(k.Handle); !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "cannot attest") {
		t.Errorf("AttestationChain of an imported key: %v, want ErrInvalidRequest saying it cannot be attested", err)
	}
}

// TestAttestationChainThroughTheAgent asks the agent (a Keyring over the
// card) for a key's chain, locked, and verifies it as the CLI does.
func TestAttestationChainThroughTheAgent(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	var log bytes.Buffer
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Audit: agent.AuditTo(&log)})
	ctx := context.Background()
	info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: ciMeta, Policy: agent.KeyPolicy{PIN: "always"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	chain, err := k.Attest(ctx, agent.AttestRequest{KeyID: info.ID})
	if err != nil {
		t.Fatalf("Attest while locked: %v", err)
	}
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates, want 2", len(chain))
	}
	a, err := VerifyAttestationChain(pivtest.Roots(t), chain)
	if err != nil {
		t.Fatalf("VerifyAttestationChain: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.(*ecdsa.PublicKey).Equal(a.PublicKey) {
		t.Error("the chain attests another key")
	}
	if want := fmt.Sprintf("serial %d, slot 82, pin always, touch never", f.Card.Serial()); a.String() != want {
		t.Errorf("attestation %q, want %q", a, want)
	}
	if !strings.Contains(log.String(), `"op":"attest"`) || !strings.Contains(log.String(), `"key_id":"`+info.ID+`"`) {
		t.Errorf("the attestation is not audited:\n%s", log.String())
	}
	for name, bad := range map[string][][]byte{
		"reversed":    {chain[1], chain[0]},
		"leaf only":   chain[:1],
		"extra":       {chain[0], chain[1], chain[1]},
		"not DER":     {[]byte("junk"), chain[1]},
		"bad f9 cert": {chain[0], chain[0]},
	} {
		if _, err := VerifyAttestationChain(pivtest.Roots(t), bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := VerifyAttestationChain(nil, chain); err == nil {
		t.Error("Yubico's roots accepted the virtual card's chain")
	}
	if _, err := s.AttestationChain([]byte{0x82, 0x83}); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("a two-byte handle: %v", err)
	}
}

func TestTouchNotice(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{Touch: func(byte) bool { time.Sleep(300 * time.Millisecond); return true }})
	var notices atomic.Int32
	var noticeSlot atomic.Int32
	s := openStore(t, f, Options{TouchNoticeDelay: 50 * time.Millisecond, OnTouch: func(slot byte) {
		notices.Add(1)
		noticeSlot.Store(int32(slot))
	}}, testPIN)
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if notices.Load() != 1 || noticeSlot.Load() != 0x9c {
		t.Errorf("after Generate: %d notices (slot %x), want 1 for 9c", notices.Load(), noticeSlot.Load())
	}
	signAndVerify(t, k)
	if notices.Load() != 2 {
		t.Errorf("after Sign: %d notices, want 2", notices.Load())
	}
	c, err := s.Generate(ciMeta, "", 0) // touch policy never: no notice
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, c)
	if notices.Load() != 2 {
		t.Errorf("a key without touch gave notices: %d", notices.Load())
	}
	if n := f.Card.Touches(); n != 2 {
		t.Errorf("card counted %d touches, want 2 (root certificate, root signature)", n)
	}
}

// TestConcurrentSigns signs from several goroutines: the Store takes
// turns on the card (run with -race).
func TestConcurrentSigns(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	a, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Generate(ciMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		k := a
		if i%2 == 1 {
			k = b
		}
		go func() {
			digest := sha256.Sum256([]byte{byte(i)})
			sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err == nil && !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
				err = errors.New("signature does not verify")
			}
			errs <- err
		}()
		if i == 3 {
			if _, err := s.Keys(); err != nil {
				t.Errorf("Keys beside signatures: %v", err)
			}
		}
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestCardBusyAndPINChanged: another program holding the card makes
// operations fail as unavailable (not hang); a PIN changed behind the
// Store's back locks it after one failed try instead of using up tries.
func TestCardBusyAndPINChanged(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	yk := f.Open(t) // exclusive, as ykman would hold it
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrDeviceUnavailable) {
		t.Errorf("Sign while another program holds the card: %v, want ErrDeviceUnavailable", err)
	}
	if err := yk.SetPIN(testPIN, "13572468"); err != nil {
		t.Fatal(err)
	}
	yk.Close()
	signErr := func() error { _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); return err }
	var pe *agent.PINError
	if err := signErr(); !errors.As(err, &pe) || pe.Retries != 2 {
		t.Fatalf("Sign with a stale PIN: %v, want PINError with 2 retries", err)
	}
	if !s.Locked() {
		t.Error("a stale PIN did not lock the Store")
	}
	if err := signErr(); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Sign after the stale PIN: %v, want ErrLocked", err)
	}
	if err := s.Login([]byte("13572468")); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k)
}

// changePINBehindStore changes the card's PIN from testPIN to newPIN as
// another program (ykman) would, while s holds testPIN.
func changePINBehindStore(t *testing.T, f *pivtest.Fixture, newPIN string) {
	t.Helper()
	yk := f.Open(t)
	defer yk.Close()
	if err := yk.SetPIN(testPIN, newPIN); err != nil {
		t.Fatal(err)
	}
}

// pinRetries is the PIN tries left, as the card counts them.
func pinRetries(t *testing.T, f *pivtest.Fixture) int {
	t.Helper()
	yk := f.Open(t)
	defer yk.Close()
	n, err := yk.Retries()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkStalePIN runs op (which needs the PIN) twice with a Store whose PIN
// was changed on the card: the first run costs exactly one try and locks
// the Store, the second one asks for the PIN instead of trying again.
func checkStalePIN(t *testing.T, f *pivtest.Fixture, s *Store, op func() error) {
	t.Helper()
	before := pinRetries(t, f)
	var pe *agent.PINError
	if err := op(); !errors.As(err, &pe) || pe.Retries != before-1 {
		t.Fatalf("with a stale PIN: %v, want PINError with %d retries", err, before-1)
	}
	if !s.Locked() {
		t.Error("a stale PIN did not lock the Store")
	}
	if err := op(); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("after the stale PIN: %v, want ErrLocked", err)
	}
	if n := pinRetries(t, f); n != before-1 {
		t.Errorf("the card counts %d PIN tries left, want %d: the stale PIN was tried more than once", n, before-1)
	}
}

// TestGenerateWithPINChanged: Generate reads the management key with the
// PIN; a PIN changed on the card since Login is tried once, then the Store
// is locked.
func TestGenerateWithPINChanged(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	changePINBehindStore(t, f, "13572468")
	checkStalePIN(t, f, s, func() error { _, err := s.Generate(targetsMeta, "", 0); return err })
	if err := s.Login([]byte("13572468")); err != nil {
		t.Fatal(err)
	}
	k, err := s.Generate(targetsMeta, "", 0)
	if err != nil {
		t.Fatalf("Generate after Login with the new PIN: %v", err)
	}
	signAndVerify(t, k)
}

// TestStoreCertificateWithPINChanged: as TestGenerateWithPINChanged, for
// storing a root certificate (CertifyRoot).
func TestStoreCertificateWithPINChanged(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	const gun = "registry.example:5000/app"
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: gun},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	changePINBehindStore(t, f, "13572468")
	checkStalePIN(t, f, s, func() error { return s.StoreCertificate(k.Handle, gun, der) })
	if err := s.Login([]byte("13572468")); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreCertificate(k.Handle, gun, der); err != nil {
		t.Fatalf("StoreCertificate after Login with the new PIN: %v", err)
	}
}

// TestOlderFirmware: before 5.3 the card has no per-slot metadata, so
// slots are judged by their certificates and PIN policies come from the
// attestation; before 5.4 the management key is 3DES.
func TestOlderFirmware(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{Version: virtualcard.Version{Major: 4, Minor: 3, Patch: 5}})
	s := openStore(t, f, Options{}, testPIN)
	for _, m := range []agent.KeyMeta{rootMeta, targetsMeta} {
		k, err := s.Generate(m, "", 0)
		if err != nil {
			t.Fatalf("Generate(%+v): %v", m, err)
		}
		signAndVerify(t, k)
	}
	keys, err := openStore(t, f, Options{}, testPIN).Keys()
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys: %d, %v", len(keys), err)
	}
	for _, k := range keys {
		signAndVerify(t, k)
	}
}

// TestP384: a P-384 key on the card signs, and a new Store lists it.
func TestP384(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k, err := s.Generate(ciMeta, "", 384)
	if err != nil {
		t.Fatal(err)
	}
	if pub := k.Public().(*ecdsa.PublicKey); pub.Curve != elliptic.P384() {
		t.Fatalf("curve %s", pub.Curve.Params().Name)
	}
	signAndVerify(t, k)
	if _, err := s.Generate(ciMeta, "", 521); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Fatalf("P-521: %v", err)
	}
	keys, err := openStore(t, f, Options{}, testPIN).Keys()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if key.Meta == ciMeta {
			if key.Public().(*ecdsa.PublicKey).Curve != elliptic.P384() {
				t.Fatal("listed with another curve")
			}
			return
		}
	}
	t.Fatal("the P-384 key is not listed")
}

// TestOpenThroughRegistry: piv:serial=N opens the card through the scheme
// registry, as trust-agent start --piv N does, with its abilities.
func TestOpenThroughRegistry(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	ks, err := backend.Open(context.Background(), fmt.Sprintf("piv:serial=%d", f.Card.Serial()), backend.Options{AllowImport: true})
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	defer ks.Close()
	s, ok := ks.(*Store)
	if !ok || s.Serial() != f.Card.Serial() || !s.Locked() {
		t.Fatalf("backend.Open gave %T, want a locked *piv.Store for card %d", ks, f.Card.Serial())
	}
	if a := s.Abilities(); !a.Attest || !a.Touch || !a.Import || a.Delete || a.MaxRootKeys != 1 || a.Algorithm(agent.AlgorithmRSA) {
		t.Fatalf("abilities %+v", a)
	}
}

// TestConformance: the virtual card passes the suite every KeyStore
// passes, through the agent; cases for abilities a card lacks (RSA keys,
// deletion) check the refusals instead.
func TestConformance(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{AllowImport: true}, "")
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	t.Cleanup(func() { k.Close() })
	if err := k.Unlock(context.Background(), agent.UnlockRequest{PIN: []byte(testPIN)}); err != nil {
		t.Fatal(err)
	}
	agenttest.Run(t, agenttest.Config{Agent: k, PIN: testPIN})
}
