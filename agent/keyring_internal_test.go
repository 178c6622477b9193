package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

// softStore is a KeyStore in memory, for the Keyring's own logic (locking,
// timers, indexing) where a hardware backend adds nothing; the shared suite
// runs against real SoftHSM. Keys can be made to block to show that one
// slow device does not stall the others.
type softStore struct {
	name string
	mu   sync.Mutex
	keys []Key
	in   bool
	hold chan struct{} // when set, Keys waits until it is closed
}

func (s *softStore) Name() string { return s.name }
func (s *softStore) Kind() string { return "soft" }
func (s *softStore) Keys() ([]Key, error) {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Key(nil), s.keys...), nil
}
func (s *softStore) Generate(meta KeyMeta, _ string, _ int) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, err
	}
	k := Key{Signer: priv, Meta: meta, Location: s.name}
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
	return k, nil
}
func (s *softStore) Import(KeyMeta, crypto.Signer) (Key, error)    { return Key{}, ErrInvalidRequest }
func (s *softStore) StoreCertificate([]byte, string, []byte) error { return nil }
func (s *softStore) Login([]byte) error                            { s.mu.Lock(); s.in = true; s.mu.Unlock(); return nil }
func (s *softStore) Logout() error                                 { s.mu.Lock(); s.in = false; s.mu.Unlock(); return nil }
func (s *softStore) Locked() bool                                  { s.mu.Lock(); defer s.mu.Unlock(); return !s.in }
func (s *softStore) Close() error                                  { return nil }

// TestStaleLifetimeTimerDoesNotLock: a lifetime callback that was already
// running when an unlock re-armed the timer must not lock the fresh unlock.
func TestStaleLifetimeTimerDoesNotLock(t *testing.T) {
	s := &softStore{name: "soft", in: true}
	k := New(Options{Stores: []KeyStore{s}, Lifetime: time.Hour})
	defer k.Close()
	k.mu.RLock()
	stale := k.gen
	k.mu.RUnlock()
	if err := k.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := k.Unlock(context.Background(), UnlockRequest{PIN: []byte("1234")}); err != nil {
		t.Fatal(err)
	}
	k.lifetimeExpired(stale) // the old timer, firing late
	if s.Locked() {
		t.Fatal("a stale lifetime timer locked a fresh unlock")
	}
	k.mu.RLock()
	current := k.gen
	k.mu.RUnlock()
	k.lifetimeExpired(current)
	if !s.Locked() {
		t.Fatal("the current lifetime timer did not lock")
	}
}

// TestSlowBackendDoesNotStall: while one backend takes its time to list
// its keys, signatures by another backend's keys and Status go on.
func TestSlowBackendDoesNotStall(t *testing.T) {
	fast := &softStore{name: "fast", in: true}
	slow := &softStore{name: "slow", in: true}
	k := New(Options{Stores: []KeyStore{fast, slow}})
	defer k.Close()
	key, err := k.Generate(context.Background(), GenerateRequest{KeyMeta: KeyMeta{Role: RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	slow.mu.Lock()
	slow.hold = hold
	slow.mu.Unlock()
	listed := make(chan struct{})
	go func() { k.List(context.Background()); close(listed) }() // blocks in slow.Keys
	time.Sleep(20 * time.Millisecond)                           // let List reach the slow backend
	done := make(chan error, 1)
	go func() {
		_, err := k.Sign(context.Background(), SignRequest{KeyID: key.ID, GUN: "example.com/app", Role: "targets/releases",
			Data: []byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":1}`)})
		if err == nil {
			_, err = k.Status(context.Background())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sign and Status waited for another backend's listing")
	}
	close(hold)
	<-listed
}

// TestForeignCertificateIgnored: a certificate stored beside a root key
// that the key did not self-sign, or for another name, is never indexed.
func TestForeignCertificateIgnored(t *testing.T) {
	root, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(signer *ecdsa.PrivateKey, cn string) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	const gun = "example.com/app"
	key := Key{Signer: root, Meta: KeyMeta{Role: RoleRoot, Name: "root"}, Certs: []Cert{
		{GUN: gun, DER: mk(root, gun)},                  // good
		{GUN: gun, DER: mk(other, gun)},                 // another key's certificate
		{GUN: "example.com/victim", DER: mk(root, gun)}, // stored under another name
		{GUN: gun, DER: []byte("junk")},                 // not a certificate
	}}
	got := rootCerts(key)
	if len(got) != 1 || string(got[0].DER) != string(key.Certs[0].DER) {
		t.Fatalf("kept %d certificates, want only the key's own", len(got))
	}
}
