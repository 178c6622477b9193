// Command trust-agent keeps Docker Content Trust keys on hardware and signs
// TUF metadata for its clients, as ssh-agent does for SSH keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/spf13/pflag"
)

// command is one verb: it parses its own flags from args.
type command func(ctx context.Context, env *env, args []string) error

// env is what a command may touch: its streams, so tests can capture them.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// helpToStdout: the user asked for --help, so help is the command's
	// output (stdout); a usage shown for a mistake goes to stderr.
	helpToStdout bool
	// record, when set, is given every flag set a command declares
	// (completions and the man page read the flags from it).
	record func(*pflag.FlagSet)
}

// out is stdout when help was asked for, else stderr.
func (e *env) out(asked bool) io.Writer {
	if asked || e.helpToStdout {
		return e.stdout
	}
	return e.stderr
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	return runWith(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, args)
}

// runWith runs one command line with e's streams and returns the exit code.
func runWith(e *env, args []string) int {
	switch {
	case len(args) == 0:
		writeUsage(e.stderr)
		return 1
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1:
		writeUsage(e.stdout)
		return 0
	case args[0] == "help":
		args = append(args[1:], "--help")
	case args[0] == "--version":
		args = []string{"version"}
	}
	e.helpToStdout = slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, e, args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		var s silentError
		if errors.As(err, &s) {
			return s.code
		}
		var u *usageErr
		if errors.As(err, &u) {
			return fail(e, u.err, u.hint)
		}
		return fail(e, err, hintFor(err))
	}
	return 0
}

// fail prints an error and its hint as age does: one line each on stderr.
func fail(e *env, err error, hint string) int {
	fmt.Fprintf(e.stderr, "trust-agent: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(e.stderr, "trust-agent: hint: %s\n", hint)
	}
	return 1
}

// silentError ends a command with an exit code after it printed its own
// message (verify prints docker's wording).
type silentError struct{ code int }

func (s silentError) Error() string { return fmt.Sprintf("exit %d", s.code) }

// flags returns a pflag set for one command whose usage goes to stderr.
func flags(e *env, name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { writeCommandHelp(e.out(false), name, synopsis, fs) }
	if e.record != nil {
		e.record(fs)
	}
	return fs
}

// usageError is a wrong number of arguments.
func usageError(synopsis string) error {
	return fmt.Errorf("usage: trust-agent %s", synopsis)
}
