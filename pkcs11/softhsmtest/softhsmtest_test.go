//go:build cgo

package softhsmtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/uri"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestTokensAfterInitialize checks the reason this package initialises
// tokens in-process: a token made while the module is initialized (a
// Store is open) must be visible to the next Open.
func TestTokensAfterInitialize(t *testing.T) {
	first, err := pkcs11.Open(softhsmtest.Token(t, "1111"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for i := 0; i < 3; i++ {
		s, err := pkcs11.Open(softhsmtest.Token(t, "2222"))
		if err != nil {
			t.Fatalf("token %d made while the module is initialized: %v", i, err)
		}
		if s.Locked() {
			t.Errorf("token %d: store with pin-source is locked", i)
		}
		s.Close()
	}
}

func TestFixture(t *testing.T) {
	f := softhsmtest.New(t, "4321")
	fi, err := os.Stat(f.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("PIN file mode %v, want 0600", fi.Mode().Perm())
	}
	u, err := uri.Parse(f.URI())
	if err != nil {
		t.Fatal(err)
	}
	pin, err := u.ReadPIN()
	if err != nil || string(pin) != "4321" || u.Token != f.Label || u.ModulePath != f.ModulePath {
		t.Errorf("URI() = %q: %+v, PIN %q, %v", f.URI(), u, pin, err)
	}
	if strings.Contains(f.LockedURI(), "pin-source") {
		t.Errorf("LockedURI() = %q has a pin-source", f.LockedURI())
	}
	s, err := pkcs11.Open(f.LockedURI())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Locked() {
		t.Error("store from LockedURI is not locked")
	}
	if os.Getenv("SOFTHSM2_CONF") == "" {
		t.Error("SOFTHSM2_CONF is not set")
	}
	if g := softhsmtest.New(t, "4321"); g.Label == f.Label {
		t.Errorf("two tokens labelled %q", g.Label)
	}
}
