package socket

import (
	"errors"
	"fmt"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// Errors of the protocol itself, carried as codes like the agent's own.
var (
	ErrUnsupportedVersion = errors.New("socket: unsupported protocol version")
	ErrUnknownMessageType = errors.New("socket: unknown message type")
)

// Code is an error code in a failure response. The values are part of the
// wire format (docs/PROTOCOL.md): never renumber them.
type Code uint16

const (
	CodeInternal           Code = 0 // no code fits; the message says what happened
	CodeNotFound           Code = 1 // agent.ErrNotFound
	CodeDenied             Code = 2 // agent.ErrDenied; data: reason (*agent.DeniedError)
	CodeLocked             Code = 3 // agent.ErrLocked
	CodePINIncorrect       Code = 4 // agent.ErrPINIncorrect; data: retries (*agent.PINError)
	CodePINBlocked         Code = 5 // agent.ErrPINBlocked; data: retries = 0 (*agent.PINError)
	CodeDeviceUnavailable  Code = 6 // agent.ErrDeviceUnavailable
	CodeInvalidRequest     Code = 7 // agent.ErrInvalidRequest, and requests that do not decode
	CodeUnsupportedVersion Code = 8 // ErrUnsupportedVersion
	CodeUnknownMessageType Code = 9 // ErrUnknownMessageType
)

// codeErrs maps each code to the sentinel a client's error matches.
var codeErrs = map[Code]error{
	CodeNotFound:           agent.ErrNotFound,
	CodeDenied:             agent.ErrDenied,
	CodeLocked:             agent.ErrLocked,
	CodePINIncorrect:       agent.ErrPINIncorrect,
	CodePINBlocked:         agent.ErrPINBlocked,
	CodeDeviceUnavailable:  agent.ErrDeviceUnavailable,
	CodeInvalidRequest:     agent.ErrInvalidRequest,
	CodeUnsupportedVersion: ErrUnsupportedVersion,
	CodeUnknownMessageType: ErrUnknownMessageType,
}

var codeNames = map[Code]string{
	CodeInternal:           "internal",
	CodeNotFound:           "not found",
	CodeDenied:             "denied",
	CodeLocked:             "locked",
	CodePINIncorrect:       "PIN incorrect",
	CodePINBlocked:         "PIN blocked",
	CodeDeviceUnavailable:  "device unavailable",
	CodeInvalidRequest:     "invalid request",
	CodeUnsupportedVersion: "unsupported version",
	CodeUnknownMessageType: "unknown message type",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// failureBody is the JSON body of a failure frame. Retries is present
// exactly when the agent's error was an *agent.PINError, Reason exactly when
// it was an *agent.DeniedError, so the client rebuilds the same type.
type failureBody struct {
	Code    Code    `json:"code"`
	Message string  `json:"message"`
	Retries *int    `json:"retries,omitempty"`
	Reason  *string `json:"reason,omitempty"`
	// RetryAt is present exactly when the agent's error was an
	// *agent.ThrottledError: when the next PIN is accepted.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// encodeError classifies err for the wire. The PIN codes come first because
// a *agent.PINError with no tries left matches both of them.
func encodeError(err error) failureBody {
	b := failureBody{Code: CodeInternal, Message: err.Error()}
	var pe *agent.PINError
	var de *agent.DeniedError
	var te *agent.ThrottledError
	switch {
	case errors.As(err, &te): // retries only when the token said: never -1
		b.Code, b.RetryAt = CodePINIncorrect, &te.RetryAt
		if te.Retries >= 0 {
			b.Retries = &te.Retries
		}
		if te.Retries == 0 {
			b.Code = CodePINBlocked
		}
	case errors.As(err, &pe): // retries only when the hardware said: never -1
		b.Code = CodePINIncorrect
		if pe.Retries >= 0 {
			b.Retries = &pe.Retries
		}
		if pe.Retries == 0 {
			b.Code = CodePINBlocked
		}
	case errors.As(err, &de):
		b.Code, b.Reason = CodeDenied, &de.Reason
	default:
		for _, c := range []Code{CodePINBlocked, CodePINIncorrect, CodeNotFound, CodeDenied, CodeLocked,
			CodeDeviceUnavailable, CodeInvalidRequest, CodeUnsupportedVersion, CodeUnknownMessageType} {
			if errors.Is(err, codeErrs[c]) {
				b.Code = c
				break
			}
		}
	}
	return b
}

// RemoteError is an error the agent returned over the socket. Its message is
// the agent's own, unchanged; it unwraps to the same sentinel or typed error
// (*agent.PINError, *agent.DeniedError) the agent returned, so errors.Is and
// errors.As work as they would against the agent directly.
type RemoteError struct {
	Code    Code
	Message string
	err     error
}

func (e *RemoteError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.err != nil {
		return e.err.Error()
	}
	return "socket: agent failed with " + e.Code.String()
}

// Unwrap returns the rebuilt agent error, or nil for CodeInternal and codes
// this package does not know.
func (e *RemoteError) Unwrap() error { return e.err }

// decodeError rebuilds the error a failure body describes.
func decodeError(b failureBody) *RemoteError {
	e := &RemoteError{Code: b.Code, Message: b.Message, err: codeErrs[b.Code]}
	switch {
	case (b.Code == CodePINIncorrect || b.Code == CodePINBlocked) && b.RetryAt != nil:
		te := &agent.ThrottledError{RetryAt: *b.RetryAt, Retries: -1}
		if b.Retries != nil {
			te.Retries = *b.Retries
		}
		if b.Code == CodePINBlocked {
			te.Retries = 0
		}
		e.err = te
	case b.Code == CodePINIncorrect && b.Retries != nil:
		e.err = &agent.PINError{Retries: *b.Retries}
	case b.Code == CodePINIncorrect:
		// The hardware did not say how many tries are left: the wire
		// carries no number (never -1), the client's error still is a
		// *PINError, with Retries -1 as the agent's was.
		e.err = &agent.PINError{Retries: -1}
	case b.Code == CodePINBlocked && b.Retries != nil:
		e.err = &agent.PINError{Retries: 0}
	case b.Code == CodeDenied && b.Reason != nil:
		e.err = &agent.DeniedError{Reason: *b.Reason}
	}
	return e
}
