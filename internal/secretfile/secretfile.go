// Package secretfile reads a secret (a PIN, a passphrase, a private key)
// from a file that only its owner may read or write.
//
// The checks run on the opened file (fstat), so the file judged is the
// file read; the read is capped, so a wrong path (a log, a device) cannot
// fill memory. Callers that word their refusals their own way switch on
// Error.Kind.
package secretfile

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Kind says why Read refused.
type Kind int

const (
	// Open: the file could not be opened, stat'ed or read (Err says why).
	Open Kind = iota + 1
	// Mode: group or others may read or write the file (Perm).
	Mode
	// TooLong: the file holds more than Max bytes.
	TooLong
	// Empty: nothing is left once the trailing newline is trimmed.
	Empty
)

// Error is every error Read and ReadOptions return.
type Error struct {
	Kind Kind
	Path string
	What string      // "PIN", "passphrase"
	Perm fs.FileMode // Kind Mode
	Max  int         // Kind TooLong
	Err  error       // Kind Open
}

func (e *Error) Error() string {
	switch e.Kind {
	case Mode:
		return fmt.Sprintf("the %s file %s is readable or writable by group or others (mode %04o); chmod 600 %s", e.What, e.Path, uint32(e.Perm), e.Path)
	case TooLong:
		return fmt.Sprintf("the %s file %s is longer than %d bytes; it should hold only the %s", e.What, e.Path, e.Max, e.What)
	case Empty:
		return fmt.Sprintf("the %s file %s is empty", e.What, e.Path)
	default:
		return fmt.Sprintf("reading the %s file: %v", e.What, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Options adjusts ReadOptions.
type Options struct {
	What string // what the file holds, for messages: "PIN"
	Max  int    // at most this many bytes; more is refused
	// Check, when set, replaces the mode check: it is called with the
	// opened file's FileInfo and its error is returned as is.
	Check func(fs.FileInfo) error
	// Raw keeps the content as it is: no newline trimmed, empty allowed.
	Raw bool
}

// Read returns the content of path, a file only its owner may read or
// write, of at most max bytes, without one trailing "\n" or "\r\n";
// it refuses an empty secret. Every error is an *Error.
func Read(path, what string, max int) ([]byte, error) {
	return ReadOptions(path, Options{What: what, Max: max})
}

// ReadOptions is Read with options.
func ReadOptions(path string, o Options) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Kind: Open, Path: path, What: o.What, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat() // of what was opened: no race with a rename
	if err != nil {
		return nil, &Error{Kind: Open, Path: path, What: o.What, Err: err}
	}
	if o.Check != nil {
		if err := o.Check(fi); err != nil {
			return nil, err
		}
	} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &Error{Kind: Mode, Path: path, What: o.What, Perm: perm}
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(o.Max)+1))
	if err != nil {
		clear(b)
		return nil, &Error{Kind: Open, Path: path, What: o.What, Err: err}
	}
	if len(b) > o.Max {
		clear(b)
		return nil, &Error{Kind: TooLong, Path: path, What: o.What, Max: o.Max}
	}
	if o.Raw {
		return b, nil
	}
	if bytes.HasSuffix(b, []byte("\r\n")) {
		b = b[:len(b)-2]
	} else {
		b = bytes.TrimSuffix(b, []byte("\n"))
	}
	if len(b) == 0 {
		return nil, &Error{Kind: Empty, Path: path, What: o.What}
	}
	return b, nil
}
