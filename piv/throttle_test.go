//go:build cgo

package piv

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/piv/pivtest"
)

// TestPINGuessingOnCard is the PIN-guessing attack against a card: wrong
// PINs as fast as a client can send them through the agent use only the
// first three of the card's tries, every error says how many are left as
// the card reports them, and the right PIN after the wait unlocks.
func TestPINGuessingOnCard(t *testing.T) {
	f := pivtest.Card(t)
	yk, err := pivgo.Open(f.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// 8 tries, so the card does not block before the throttle shows;
	// SET PIN RETRIES leaves the PIN at its default
	err = yk.SetRetries(pivgo.DefaultManagementKey, pivgo.DefaultPIN, 8, 8)
	yk.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, f, Options{}, "")
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 2, 31, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Now: clock})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("11111111")})
		left := 7 - min(i, 2) // the card's count stops where the throttle starts
		var pe *agent.PINError
		var te *agent.ThrottledError
		switch {
		case i < 3 && (!errors.As(err, &pe) || pe.Retries != left):
			t.Fatalf("wrong PIN %d: %v, want a PINError with %d tries left", i+1, err, left)
		case i >= 3 && (!errors.As(err, &te) || te.Retries != left):
			t.Fatalf("wrong PIN %d: %v, want a ThrottledError with %d tries left", i+1, err, left)
		}
		if want := []string{"7 tries left", "6 tries left", "5 tries left"}[min(i, 2)]; !strings.Contains(err.Error(), want) {
			t.Errorf("wrong PIN %d: %q does not say %q", i+1, err, want)
		}
	}
	yk, _, _, err = findCard(s.serial, "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := yk.Retries()
	yk.Close()
	if err != nil || n != 5 {
		t.Fatalf("the card has %d tries left (%v) after 10 fast wrong PINs, want 5", n, err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte(pivgo.DefaultPIN)}); err != nil {
		t.Fatalf("the right PIN after the wait: %v", err)
	}
	if s.Locked() {
		t.Fatal("still locked")
	}
}
