//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/trust-agent/trust-agent/agent"
)

// errClosed is returned by every method of a closed Store.
var errClosed = errors.New("pkcs11: store is closed")

// rvError renders a CK_RV as its name ("CKR_DEVICE_REMOVED (0x32)") and
// unwraps to the pkcs11.Error, so errors.Is works with the library's codes.
type rvError struct{ rv pkcs11.Error }

func (e rvError) Error() string {
	// The library's own text is "pkcs11: 0x32: CKR_DEVICE_REMOVED"; we
	// already say "pkcs11: " once at the front.
	parts := strings.SplitN(e.rv.Error(), ": ", 3)
	if len(parts) < 3 || parts[2] == "" {
		return fmt.Sprintf("CK_RV 0x%X", uint(e.rv))
	}
	return fmt.Sprintf("%s (0x%X)", parts[2], uint(e.rv))
}

func (e rvError) Unwrap() error { return e.rv }

// rv extracts the CK_RV from an error returned by the library.
func rv(err error) (uint, bool) {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

// isRV reports whether err carries the CK_RV code.
func isRV(err error, code uint) bool {
	c, ok := rv(err)
	return ok && c == code
}

// deviceGone is true for codes that mean the token (or our view of it) is
// gone: unplugged, failing, or its sessions invalidated by that.
func deviceGone(code uint) bool {
	switch code {
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_SLOT_ID_INVALID, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// wrap prefixes err from the PKCS#11 call behind op and classifies it, so
// the agent can tell a missing device or a logged-out token by errors.Is.
func wrap(op string, err error) error {
	code, ok := rv(err)
	if !ok {
		return fmt.Errorf("pkcs11: %s: %w", op, err)
	}
	re := rvError{pkcs11.Error(code)}
	switch {
	case deviceGone(code):
		return fmt.Errorf("pkcs11: %s: %w: %w", op, agent.ErrDeviceUnavailable, re)
	case code == pkcs11.CKR_USER_NOT_LOGGED_IN:
		return fmt.Errorf("pkcs11: %s: %w: %w", op, agent.ErrLocked, re)
	}
	return fmt.Errorf("pkcs11: %s: %w", op, re)
}
