package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trust-agent/trust-agent/internal/trust"
)

// The administrative Notary commands: signer remove, revoke, key rotate.

// openTTY opens the controlling terminal for a y/N question; tests replace it.
var openTTY = func() (io.ReadWriteCloser, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }

// errNoTTY means a question had to be asked and there was no terminal.
var errNoTTY = errors.New("no terminal to confirm on")

// confirmer asks y/N questions on the terminal, as docker's
// PromptForConfirmation does (only "y" or "yes" says yes). stdin and stdout
// may carry data, so the question never uses them. When there is no
// terminal it answers no and remembers why, for err.
type confirmer struct {
	flag string // the flag that skips the question, for the hint
	err  error
}

func (c *confirmer) confirm(prompt string) bool {
	tty, err := openTTY()
	if err != nil {
		c.err = &trust.Error{
			Msg:  fmt.Sprintf("%v (%v); nothing was changed", errNoTTY, err),
			Hint: "answer the question on a terminal, or pass " + c.flag + " to go ahead without asking",
			Err:  errNoTTY,
		}
		return false
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		c.err = fmt.Errorf("reading the answer from the terminal: %w", err)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// confirmOnTerminal returns a y/N question for the terminal, or nil when
// there is none: scripts (and make demo) go ahead without asking, as
// docker does.
func confirmOnTerminal(flag string) func(string) bool {
	tty, err := openTTY()
	if err != nil {
		return nil
	}
	tty.Close()
	c := &confirmer{flag: flag}
	return c.confirm
}

// result is err, else the confirmer's own failure.
func (c *confirmer) result(err error) error {
	if err != nil {
		return err
	}
	return c.err
}

const signerRemoveSynopsis = "signer remove [-f] [--key KEYID] NAME REPO..."

func cmdSignerRemove(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "signer remove", signerRemoveSynopsis)
	force := fs.BoolP("force", "f", false, "do not ask before a removal that leaves targets/releases (with --key, or targets/NAME) unsigned, or re-signs it so that its tags stay trusted")
	keyID := fs.String("key", "", "remove only this key (ID, or its first 7+ hex digits) from the signer, keeping its other keys")
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usageError(signerRemoveSynopsis)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	name := fs.Arg(0)
	remove := trust.SignerRemove
	if *keyID != "" {
		remove = trust.SignerRemoveKey
	}
	var failed []string
	var last error
	for _, repo := range fs.Args()[1:] {
		cf := &confirmer{flag: "-f"}
		err := cf.result(remove(ctx, trust.SignerRemoveOptions{Options: o, Agent: withTouchNotice(c, e.stderr),
			Name: name, Repo: repo, KeyID: *keyID, Force: *force, Confirm: cf.confirm, Out: e.stdout}))
		if err != nil {
			if fs.NArg() > 2 { // one repository: its error is the command's, printed once
				fmt.Fprintf(e.stderr, "trust-agent: %s: %v\n", repo, err)
			}
			failed = append(failed, repo)
			last = err
		}
	}
	switch {
	case len(failed) == 1 && fs.NArg() == 2:
		return last
	case len(failed) > 0:
		return &trust.Error{Msg: "error removing signer from: " + strings.Join(failed, ", "), Hint: trust.Hint(last), Err: last}
	}
	return nil
}

const revokeSynopsis = "revoke [-y] REPO[:TAG]"

func cmdRevoke(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "revoke", revokeSynopsis)
	yes := fs.BoolP("yes", "y", false, "do not prompt for confirmation")
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(revokeSynopsis)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	cf := &confirmer{flag: "-y"}
	return cf.result(trust.Revoke(ctx, trust.RevokeOptions{Options: o, Agent: withTouchNotice(c, e.stderr), Repo: fs.Arg(0), Yes: *yes, Confirm: cf.confirm, Out: e.stdout}))
}

const keyRotateSynopsis = "key rotate ROLE REPO [-r] [-y] [--backend NAME]"

func cmdKeyRotate(ctx context.Context, e *env, args []string) error {
	o := trust.RotateOptions{Out: e.stdout}
	fs := flags(e, "key rotate", keyRotateSynopsis)
	fs.BoolVarP(&o.ServerManaged, "server-managed", "r", false, "hand the key to the notary server (snapshot, timestamp)")
	fs.BoolVarP(&o.Yes, "yes", "y", false, "do not prompt for confirmation before rotating the root key")
	fs.StringVar(&o.Backend, "backend", "", "`NAME` of the agent backend (see trust-agent status) for a new root key (default: the current root key's)")
	fs.StringArrayVar(&o.CopyTo, "copy-to", nil, "`NAME` of another backend that holds the new root key too (repeatable; default: the backends that hold the current one)")
	serverFlags(fs, &o.Options)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError(keyRotateSynopsis)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	cf := &confirmer{flag: "-y"}
	o.Confirm = cf.confirm
	o.Agent, o.Role, o.Repo = withTouchNotice(c, e.stderr), fs.Arg(0), fs.Arg(1)
	return cf.result(trust.Rotate(ctx, o))
}
