package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// Attacks that tell a planted bug from the fix (scripts/mutants.sh;
// SECURITY.md, "Planted bugs"): each failed on one mutation that the rest
// of the package's tests let through.

// retryStore is a softStore whose token counts tries, as a PIV card or a
// PKCS#11 token with CKF_USER_PIN_COUNT_LOW does.
type retryStore struct {
	*softStore
	left int
}

func (r *retryStore) Login(pin []byte) error {
	if string(pin) != r.pin {
		r.left--
		return &agent.PINError{Retries: r.left}
	}
	return r.softStore.Login(pin)
}

// TestThrottledErrorCarriesTokenRetries: a try the throttle refuses still
// says how many tries the token said were left, never "unknown" (A26).
func TestThrottledErrorCarriesTokenRetries(t *testing.T) {
	c := newClock()
	s := &retryStore{softStore: &softStore{name: "card", pin: "123456"}, left: 8}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}, Now: c.Now})
	defer k.Close()
	ctx := context.Background()
	for i := 0; i < agent.FreePINTries; i++ {
		var pe *agent.PINError
		if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")}); !errors.As(err, &pe) || pe.Retries != 7-i {
			t.Fatalf("wrong PIN %d: %v, want a PINError with %d tries left", i+1, err, 7-i)
		}
	}
	err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("000000")})
	var te *agent.ThrottledError
	if !errors.As(err, &te) || te.Retries != 5 || !strings.Contains(err.Error(), "5 tries left") {
		t.Fatalf("throttled try: %v, want a ThrottledError saying 5 tries left", err)
	}
	if s.left != 5 {
		t.Fatalf("the throttled try reached the token: %d tries left, want 5", s.left)
	}
}
