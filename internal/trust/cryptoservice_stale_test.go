package trust

import (
	"context"
	"sync"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// slowList is an agent whose List, once armed, reads the keys and then
// waits (as a List in flight on a slow token does) before answering.
type slowList struct {
	agent.Agent
	mu      sync.Mutex
	armed   bool
	read    chan struct{} // closed once the armed List has read the keys
	release chan struct{} // the armed List answers once this is closed
}

func (s *slowList) List(ctx context.Context) ([]agent.KeyInfo, error) {
	keys, err := s.Agent.List(ctx)
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(s.read)
		<-s.release
	}
	return keys, err
}

func (s *slowList) arm() {
	s.mu.Lock()
	s.armed, s.read, s.release = true, make(chan struct{}), make(chan struct{})
	s.mu.Unlock()
}

// whileListing runs change while a lookup through cs is in its List: the
// keys read, the answer not yet given.
func whileListing(t *testing.T, s *slowList, cs *CryptoService, change func()) {
	t.Helper()
	s.arm()
	done := make(chan struct{})
	go func() { defer close(done); cs.GetKey("the server's snapshot key") }()
	<-s.read
	change()
	close(s.release)
	<-done
}

// TestCryptoServiceStaleListAfterCreate: a lookup's List in flight while
// another goroutine's Create makes a key. The List read the keys before the
// key existed; it lands after Create, which found no list to add its key
// to. The key the CryptoService made itself is then never found.
func TestCryptoServiceStaleListAfterCreate(t *testing.T) {
	a, _ := newSoftAgent(t)
	sl := &slowList{Agent: a}
	cs := NewCryptoService(sl, testGUN)
	var k data.PublicKey
	whileListing(t, sl, cs, func() {
		var err error
		if k, err = cs.Create(data.CanonicalTargetsRole, testGUN, data.ECDSAKey); err != nil {
			t.Fatal(err)
		}
	})
	if _, _, err := cs.GetPrivateKey(k.ID()); err != nil {
		t.Fatalf("GetPrivateKey(the key this CryptoService just created) = %v", err)
	}
}

// TestCryptoServiceStaleListAfterRootCertificate: the same with the
// certificate RootCertificate has the agent make: forget runs while a List
// read before the certificate existed is in flight, which then fills the
// list without it.
func TestCryptoServiceStaleListAfterRootCertificate(t *testing.T) {
	a, _ := newSoftAgent(t)
	root, err := NewCryptoService(a, testGUN).Create(data.CanonicalRootRole, "", data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	sl := &slowList{Agent: a}
	cs := NewCryptoService(sl, testGUN)
	var cert data.PublicKey
	whileListing(t, sl, cs, func() {
		if cert, err = cs.RootCertificate(root.ID()); err != nil {
			t.Fatal(err)
		}
	})
	if cs.GetKey(cert.ID()) == nil {
		t.Fatal("GetKey(the root certificate this CryptoService just had made) = nil")
	}
}
