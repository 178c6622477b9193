//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestTokenComesBack: when the token drops every session of ours (as on
// removal and re-insertion; simulated with C_CloseAllSessions on the slot,
// which invalidates our handles and logs the process out), the store
// reopens its sessions, reports itself locked, and works again after
// Login with the PIN. It does not log in again by itself.
func TestTokenComesBack(t *testing.T) {
	s := openStore(t, softhsmtest.Token(t, testPIN))
	s.SetLogger(slog.New(slog.DiscardHandler))
	k, err := s.Generate(rootMeta, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k) // a pool session and a cached handle, both to go stale

	for round := 0; round < 2; round++ {
		if err := s.p.CloseAllSessions(s.slot); err != nil {
			t.Fatal(err)
		}
		if !s.Locked() {
			t.Fatal("not locked after the token dropped our sessions")
		}
		if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, agent.ErrLocked) {
			t.Errorf("Sign before unlocking again: %v, want ErrLocked", err)
		}
		keys, err := s.Keys()
		if err != nil || len(keys) != 1 {
			t.Fatalf("Keys after the token came back = %d keys, %v", len(keys), err)
		}
		if err := s.Login([]byte(testPIN)); err != nil {
			t.Fatalf("Login after the token came back: %v", err)
		}
		if s.Locked() {
			t.Fatal("locked after Login")
		}
		signAndVerify(t, k)
		signAndVerify(t, keys[0])
	}

	// Dropped while an operation is the first to notice: it is run again
	// on a fresh session and tells the truth (locked), and Logout of a
	// store whose login is gone succeeds.
	if err := s.p.CloseAllSessions(s.slot); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate(rootMeta, "", 0); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("Generate after the token dropped our sessions: %v, want ErrLocked", err)
	}
	if err := s.p.CloseAllSessions(s.slot); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(); err != nil {
		t.Errorf("Logout after the token dropped our sessions: %v", err)
	}
	if err := s.Login([]byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, k)
}
