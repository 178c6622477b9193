//go:build cgo

package piv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// TestFailedLoginLocks: a Login that fails leaves the Store locked, with
// the PIN it held before wiped, even when the new PIN is refused before
// the card is asked: no card is needed here (F2).
func TestFailedLoginLocks(t *testing.T) {
	s := &Store{serial: 1}
	s.pin = []byte("24681357")
	held := s.pin
	if err := s.Login([]byte("123")); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Fatalf("Login with a 3-character PIN: %v, want ErrInvalidRequest", err)
	}
	if !s.Locked() || s.pin != nil {
		t.Fatal("still unlocked with the old PIN after a failed Login")
	}
	for _, b := range held {
		if b != 0 {
			t.Fatalf("the old PIN's bytes are still in memory: %q", held)
		}
	}
}

// sw is a card's status word, as piv-go's apduErr carries it.
type sw uint16

func (s sw) Error() string  { return fmt.Sprintf("smart card error %04x", uint16(s)) }
func (s sw) Status() uint16 { return uint16(s) }

// TestBlockedPINSaysBlocked: a card answering 6983 (authentication method
// blocked) to a PIN is a blocked PIN with no tries left, not a PIN whose
// tries are unknown (F4).
func TestBlockedPINSaysBlocked(t *testing.T) {
	err := wrap("login", fmt.Errorf("verify pin: %w", sw(0x6983)), false)
	var pe *agent.PINError
	if !errors.As(err, &pe) || pe.Retries != 0 || !errors.Is(err, agent.ErrPINBlocked) {
		t.Fatalf("6983: %v, want a blocked PIN (0 tries left)", err)
	}
	if pe, ok := pinError(sw(0x6a82)); ok {
		t.Fatalf("6a82 (not found) read as a PIN error: %v", pe)
	}
}
