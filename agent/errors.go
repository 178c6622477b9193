package agent

import (
	"errors"
	"fmt"
)

// Sentinels that cross the socket as error codes (see docs/PROTOCOL.md), so
// errors.Is works the same on both sides and the CLI can print a hint.
var (
	ErrNotFound          = errors.New("agent: key not found")
	ErrDenied            = errors.New("agent: refused by policy")
	ErrLocked            = errors.New("agent: locked")
	ErrPINIncorrect      = errors.New("agent: PIN incorrect")
	ErrPINBlocked        = errors.New("agent: PIN blocked")
	ErrDeviceUnavailable = errors.New("agent: device unavailable")
	ErrInvalidRequest    = errors.New("agent: invalid request")
)

// PINError reports a wrong PIN and how many tries are left. Retries < 0
// means the hardware did not say.
type PINError struct {
	Retries int
}

func (e *PINError) Error() string {
	switch {
	case e.Retries == 0:
		return "agent: PIN blocked"
	case e.Retries < 0:
		return "agent: PIN incorrect"
	case e.Retries == 1:
		return "agent: PIN incorrect, 1 try left before the PIN is blocked"
	default:
		return fmt.Sprintf("agent: PIN incorrect, %d tries left", e.Retries)
	}
}

// Is makes errors.Is(err, ErrPINIncorrect) and, with no tries left,
// errors.Is(err, ErrPINBlocked) true.
func (e *PINError) Is(target error) bool {
	if target == ErrPINBlocked {
		return e.Retries == 0
	}
	return target == ErrPINIncorrect
}

// DeniedError says why the policy refused a signature.
type DeniedError struct {
	Reason string
}

func (e *DeniedError) Error() string        { return "agent: refused by policy: " + e.Reason }
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }
