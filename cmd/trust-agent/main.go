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
	"syscall"

	"github.com/spf13/pflag"
)

const usage = `Usage: trust-agent COMMAND [OPTIONS]

Agent:
  start [-f] [--socket PATH] [--pkcs11 URI]... [--piv any|SERIAL]... [--piv-allow-import] [--audit-log PATH|--no-audit]
        [--lifetime D] [--start-timeout D] [-c|--fish]
  stop | status [--json] | lock | unlock [--pin-file F] [--backend NAME]
  piv setup [--serial N]

Keys (made and kept on hardware):
  key generate NAME [--role delegation|targets|root] [--repo GUN] [--algorithm ecdsa|rsa] [--bits N] [--dir DIR]
               [--backend NAME] [--pin-policy once|always] [--touch-policy never|cached|always]
  key load FILE [--name NAME] [--role ROLE] [--repo GUN] [--backend NAME]
  key list [--json] [--attest [--attestation-roots FILE]]
  key attest NAME|ID [--dir DIR]
  key rotate ROLE REPO [-r] [-y] [--backend NAME]

Docker Content Trust:
  signer add --key PUB [--key PUB]... [--require-attestation [--attestation-roots FILE]] NAME REPO...
  signer remove [-f] [--key KEYID] NAME REPO...
  signer witness [-y] REPO [ROLE...]
  sign [--digest sha256:HEX --size N] REPO:TAG...
  revoke [-y] REPO[:TAG]
  inspect [--pretty] REPO[:TAG]...
  verify [--offline] REF

Clients find the agent through TRUST_AGENT_SOCK: eval "$(trust-agent start ...)".
`

// command is one verb: it parses its own flags from args.
type command func(ctx context.Context, env *env, args []string) error

// env is what a command may touch: its streams, so tests can capture them.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands = map[string]command{
	"start":   cmdStart,
	"stop":    cmdStop,
	"status":  cmdStatus,
	"lock":    cmdLock,
	"unlock":  cmdUnlock,
	"key":     cmdKey,
	"signer":  cmdSigner,
	"sign":    cmdSign,
	"revoke":  cmdRevoke,
	"inspect": cmdInspect,
	"verify":  cmdVerify,
	"piv":     cmdPIV,
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fail(e, fmt.Errorf("unknown command %q", args[0]), "run `trust-agent help` for the commands")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, e, args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		var s silentError
		if errors.As(err, &s) {
			return s.code
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
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: trust-agent %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// usageError is a wrong number of arguments.
func usageError(synopsis string) error {
	return fmt.Errorf("usage: trust-agent %s", synopsis)
}
