//go:build cgo

package piv

import (
	"errors"
	"fmt"

	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/trust-agent/trust-agent/agent"
)

// errClosed is returned by every method of a closed Store.
var errClosed = errors.New("piv: store is closed")

// errNotSetUp is returned when the card has no PIN-protected management
// key: the agent never tries the factory default.
var errNotSetUp = errors.New("piv: the card has no PIN-protected management key; run `trust-agent piv setup` first")

// statusError is piv-go's unexported apduErr: an answer from the card
// (a status word), as opposed to a PC/SC error about reaching it.
type statusError interface{ Status() uint16 }

// fromCard reports whether err is an answer of the card rather than a
// transport (PC/SC) failure or a local one.
func fromCard(err error) bool {
	var se statusError
	var ae pivgo.AuthErr
	return errors.As(err, &se) || errors.As(err, &ae) || errors.Is(err, pivgo.ErrNotFound)
}

// pinError turns piv-go's AuthErr (63Cx, or 6983 blocked → Retries 0)
// into *agent.PINError, so errors.Is(err, agent.ErrPINIncorrect/Blocked)
// works across the socket.
func pinError(err error) (*agent.PINError, bool) {
	var ae pivgo.AuthErr
	if errors.As(err, &ae) {
		return &agent.PINError{Retries: ae.Retries}, true
	}
	var se statusError
	if errors.As(err, &se) && se.Status() == 0x6983 {
		return &agent.PINError{Retries: 0}, true
	}
	return nil, false
}

// wrap prefixes err with the operation and classifies it. gone says the
// card could not be found again after the failure.
func wrap(op string, err error, gone bool) error {
	if err == nil {
		return nil
	}
	if pe, ok := pinError(err); ok {
		return fmt.Errorf("piv: %s: %w", op, pe)
	}
	if gone {
		return fmt.Errorf("piv: %s: %w: %w", op, agent.ErrDeviceUnavailable, err)
	}
	return fmt.Errorf("piv: %s: %w", op, err)
}
