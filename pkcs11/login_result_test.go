//go:build cgo

package pkcs11

import (
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// TestLoginResult: what C_Login answers becomes the right error. SoftHSM
// has no retry counter, so a blocked PIN (CKR_PIN_LOCKED) cannot be made
// on a real token here: the mapping is tested on its own (planted bug D6).
func TestLoginResult(t *testing.T) {
	three := func() int { return 3 }
	for _, c := range []struct {
		err     error
		ok      bool
		retries int
		blocked bool
	}{
		{nil, true, 0, false},
		{pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN), true, 0, false},
		{pkcs11.Error(pkcs11.CKR_PIN_INCORRECT), false, 3, false},
		{pkcs11.Error(pkcs11.CKR_PIN_LEN_RANGE), false, 3, false},
		{pkcs11.Error(pkcs11.CKR_PIN_LOCKED), false, 0, true},
	} {
		err := loginResult("t", c.err, three)
		if c.ok {
			if err != nil {
				t.Errorf("%v: %v, want success", c.err, err)
			}
			continue
		}
		var pe *agent.PINError
		if !errors.As(err, &pe) || pe.Retries != c.retries || errors.Is(err, agent.ErrPINBlocked) != c.blocked {
			t.Errorf("%v: %v, want a PINError with %d tries (blocked %v)", c.err, err, c.retries, c.blocked)
		}
	}
	if err := loginResult("t", pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED), three); !errors.Is(err, agent.ErrDeviceUnavailable) {
		t.Errorf("device removed: %v", err)
	}
}
