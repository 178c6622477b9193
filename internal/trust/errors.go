package trust

import "errors"

// Error is a failure worded as docker words it, with what to do next.
// Notary's own typed error, when there is one, is the cause: errors.As
// reaches it (client.ErrNoSuchTarget, client.ErrRepositoryNotExist, ...).
type Error struct {
	// Msg is docker's message for the same failure, without docker's
	// "Error: " prefix.
	Msg string
	// Hint says what to do next; the CLI prints it on its own line.
	Hint string
	// Err is the cause, if any.
	Err error
}

func (e *Error) Error() string { return "trust: " + e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Hint returns the hint of the first *Error in err's chain, or "".
func Hint(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
