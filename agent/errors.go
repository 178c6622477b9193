package agent

import (
	"errors"
	"fmt"
	"time"
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
// means the hardware did not say; the message then says so in words (never
// "-1").
type PINError struct {
	Retries int
}

func (e *PINError) Error() string {
	return "agent: " + pinRetriesText(e.Retries)
}

// pinRetriesText says what a wrong PIN with retries tries left means.
func pinRetriesText(retries int) string {
	switch {
	case retries == 0:
		return "PIN blocked"
	case retries < 0:
		return "PIN incorrect; the token does not report how many tries are left"
	case retries == 1:
		return "PIN incorrect, 1 try left before the PIN is blocked"
	default:
		return fmt.Sprintf("PIN incorrect, %d tries left", retries)
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

// ThrottledError refuses a PIN tried before the wait that wrong PINs in a
// row impose is over (see Keyring.Unlock). The agent did not pass the PIN
// to the backend, so no try was used. It matches ErrPINIncorrect (and
// ErrPINBlocked when the token said no tries are left), so callers that
// know only the sentinels still treat it as a failed unlock.
type ThrottledError struct {
	// RetryAt is when the next try is accepted, by the agent's clock.
	RetryAt time.Time
	// Wait is how long the caller has to wait from the refusal on; zero
	// when it is not known (an error rebuilt from the wire).
	Wait time.Duration
	// Retries is what the token said after the last wrong PIN, as in
	// PINError: < 0 when it did not say.
	Retries int
}

func (e *ThrottledError) Error() string {
	at := e.RetryAt.UTC().Format(time.TimeOnly) + " UTC"
	wait := ""
	if e.Wait > 0 {
		wait = fmt.Sprintf("wait %s: ", (e.Wait + time.Second - 1).Truncate(time.Second))
	}
	return fmt.Sprintf("agent: too many wrong PINs in a row (last: %s): this PIN was not tried; %snext try accepted at %s", pinRetriesText(e.Retries), wait, at)
}

// Is makes errors.Is(err, ErrPINIncorrect) true and, when the token said
// no tries are left, errors.Is(err, ErrPINBlocked).
func (e *ThrottledError) Is(target error) bool {
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
