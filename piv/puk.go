package piv

import (
	"errors"
	"fmt"
)

// Sentinels for a PUK the card rejects, as agent.ErrPINIncorrect and
// agent.ErrPINBlocked are for the PIN. Only Setup uses the PUK; the agent
// never does, so these do not cross the socket.
var (
	ErrPUKIncorrect = errors.New("piv: PUK incorrect")
	ErrPUKBlocked   = errors.New("piv: PUK blocked")
)

// PUKError reports a PUK the card rejected (piv-go's AuthErr, status 63Cx,
// or 6983 when blocked) and how many tries are left; 0 means blocked. It
// is deliberately not an *agent.PINError: the PIN is fine.
type PUKError struct {
	Retries int
}

func (e *PUKError) Error() string {
	switch e.Retries {
	case 0:
		return "piv: PUK blocked"
	case 1:
		return "piv: PUK incorrect, 1 try left before the PUK is blocked"
	}
	return fmt.Sprintf("piv: PUK incorrect, %d tries left", e.Retries)
}

// Is makes errors.Is(err, ErrPUKIncorrect) and, with no tries left,
// errors.Is(err, ErrPUKBlocked) true.
func (e *PUKError) Is(target error) bool {
	if target == ErrPUKBlocked {
		return e.Retries == 0
	}
	return target == ErrPUKIncorrect
}
