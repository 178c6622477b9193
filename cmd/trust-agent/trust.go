package main

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/trust-agent/trust-agent/internal/attestation"
	"github.com/trust-agent/trust-agent/internal/trust"
)

func init() {
	// notary logs through logrus at Info level; the CLI speaks for itself.
	logrus.SetLevel(logrus.WarnLevel)
}

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
		return trust.InspectPretty(ctx, trust.InspectOptions{Options: o, Out: e.stdout, Refs: fs.Args()})
	}
	repos, err := trust.Inspect(ctx, trust.InspectOptions{Options: o, Refs: fs.Args()})
	if werr := trust.WriteJSON(e.stdout, repos); werr != nil {
		return werr
	}
	return err
}

const verifySynopsis = "verify [--server URL] [--offline] REF"

func cmdVerify(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "verify", verifySynopsis)
	serverFlags(fs, &o)
	fs.BoolVar(&o.Offline, "offline", false, "answer from the local TUF cache when the server cannot be reached (a tag revoked since the cache was filled still passes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(verifySynopsis)
	}
	v, err := trust.Verify(ctx, trust.VerifyOptions{Options: o, Ref: fs.Arg(0)})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, v.Pinned())
	return nil
}

const signerAddSynopsis = "signer add --key PUB [--key PUB]... [--require-attestation [--attestation-roots FILE]] NAME REPO..."

func cmdSignerAdd(ctx context.Context, e *env, args []string) error {
	o := trust.SignerAddOptions{Out: e.stdout, Err: e.stderr}
	o.ConfirmNewRoot = confirmOnTerminal("--root-key ID")
	fs := flags(e, "signer add", signerAddSynopsis)
	keys := fs.StringArray("key", nil, "path to the signer's public key file (repeatable)")
	fs.StringVar(&o.RootKeyID, "root-key", "", "the agent's root key for a repository without trust data (default: the only one, or a new one)")
	requireAtt := fs.Bool("require-attestation", false, "add only keys made on a PIV card: each --key NAME.pub needs NAME.attest.pem beside it, verified and attesting that key")
	rootsFile := fs.String("attestation-roots", "", "PEM file of the CAs to verify attestations with, instead of Yubico's (implies --require-attestation)")
	serverFlags(fs, &o.Options)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usageError(signerAddSynopsis)
	}
	if *requireAtt || *rootsFile != "" {
		roots, err := loadAttestationRoots(*rootsFile)
		if err != nil {
			return err
		}
		o.VerifyAttestation = attestation.Verifier(roots)
	}
	a, err := dialAgent()
	if err != nil {
		return err
	}
	defer a.Close()
	o.Agent, o.Name, o.KeyFiles, o.Repos = withTouchNotice(a, e.stderr), fs.Arg(0), *keys, fs.Args()[1:]
	return trust.SignerAdd(ctx, o)
}

const signSynopsis = "sign [--digest sha256:HEX --size N] REPO:TAG [REPO:TAG...]"

func cmdSign(ctx context.Context, e *env, args []string) error {
	o := trust.SignOptions{Out: e.stdout, Progress: e.stderr}
	o.ConfirmNewRoot = confirmOnTerminal("--root-key ID")
	fs := flags(e, "sign", signSynopsis)
	fs.StringVar(&o.Digest, "digest", "", "sign this manifest digest instead of asking the registry")
	fs.Int64Var(&o.Size, "size", 0, "the manifest's size in bytes, with --digest")
	fs.StringVar(&o.RootKeyID, "root-key", "", "the agent's root key for a repository without trust data")
	serverFlags(fs, &o.Options)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(signSynopsis)
	}
	a, err := dialAgent()
	if err != nil {
		return err
	}
	defer a.Close()
	o.Agent, o.Refs = withTouchNotice(a, e.stderr), fs.Args()
	return trust.Sign(ctx, o)
}
