//go:build cgo

package piv

import (
	"context"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// TestLockWipesPIN: after Logout, Close, or the agent's Lock, the Store
// holds no PIN and the bytes it held are zero, so a PIN does not stay in
// the agent's memory once it is locked. (piv-go's string copies are out of
// reach: SECURITY.md says so.) No card is needed: nothing here talks to one.
func TestLockWipesPIN(t *testing.T) {
	for name, lock := range map[string]func(*Store) error{
		"Logout": (*Store).Logout,
		"Close":  (*Store).Close,
		"agent Lock": func(s *Store) error {
			k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
			return k.Lock(context.Background())
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := &Store{serial: 1}
			s.pin = []byte("24681357")
			held := s.pin
			if s.Locked() {
				t.Fatal("a Store holding a PIN says it is locked")
			}
			if err := lock(s); err != nil {
				t.Fatal(err)
			}
			if s.pin != nil {
				t.Errorf("the Store still holds a PIN after %s", name)
			}
			for _, b := range held {
				if b != 0 {
					t.Fatalf("the PIN's bytes are still in memory after %s: %q", name, held)
				}
			}
			if !s.Locked() {
				t.Errorf("not locked after %s", name)
			}
		})
	}
}
