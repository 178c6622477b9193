package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/trust-agent/trust-agent/internal/trust"
)

// errNotYet marks Notary commands whose glue is still being written.
var errNotYet = errors.New("not available in this build yet")

// serverFlags adds the flags every Notary command shares.
func serverFlags(fs *pflag.FlagSet, o *trust.Options) {
	fs.StringVar(&o.Server, "server", "", "notary server URL (default: $DOCKER_CONTENT_TRUST_SERVER, else docker's default for the registry)")
	fs.StringVar(&o.TLSCACert, "tlscacert", "", "PEM file of CAs trusted for the notary server, besides $DOCKER_CONFIG/tls/<host:port>/ca.crt")
}

const inspectSynopsis = "inspect [--pretty] REPO[:TAG]..."

func cmdInspect(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "inspect", inspectSynopsis)
	pretty := fs.Bool("pretty", false, "print in a human-friendly format")
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(inspectSynopsis)
	}
	if *pretty {
		return trust.InspectPretty(ctx, o, e.stdout, fs.Args()...)
	}
	repos, err := trust.Inspect(ctx, o, fs.Args()...)
	if werr := trust.WriteJSON(e.stdout, repos); werr != nil {
		return werr
	}
	return err
}

const verifySynopsis = "verify [--server URL] REF"

func cmdVerify(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "verify", verifySynopsis)
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(verifySynopsis)
	}
	v, err := trust.Verify(ctx, o, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, v.Pinned())
	return nil
}

func cmdSigner(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError("signer add|remove ...")
	}
	switch args[0] {
	case "add":
		return cmdSignerAdd(ctx, e, args[1:])
	case "remove":
		return cmdSignerRemove(ctx, e, args[1:])
	}
	return fmt.Errorf("unknown signer command %q; use add or remove", args[0])
}

func cmdSignerAdd(ctx context.Context, e *env, args []string) error { return errNotYet }
func cmdSign(ctx context.Context, e *env, args []string) error      { return errNotYet }
