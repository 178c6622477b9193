//go:build cgo

package pkcs11

import (
	"context"
	"testing"

	"github.com/trust-agent/trust-agent/agent/backend"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestOpenThroughRegistry: a pkcs11: URI opens a SoftHSM token through
// the scheme registry, as trust-agent start does.
func TestOpenThroughRegistry(t *testing.T) {
	ks, err := backend.Open(context.Background(), softhsmtest.Token(t, testPIN), backend.Options{})
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	defer ks.Close()
	s, ok := ks.(*Store)
	if !ok || s.Kind() != "pkcs11" || s.Locked() {
		t.Fatalf("backend.Open gave %T (kind %s, locked %v), want an unlocked *pkcs11.Store", ks, ks.Kind(), ks.Locked())
	}
	if a := s.Abilities(); !a.Delete || a.Attest || !a.Algorithm("rsa") {
		t.Fatalf("abilities %+v", a)
	}
}
