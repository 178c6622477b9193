package main

import (
	"context"

	"github.com/trust-agent/trust-agent/internal/trust"
)

const signerWitnessSynopsis = "signer witness [-y] REPO [ROLE...]"

// cmdSignerWitness re-signs delegation metadata as it is with the agent's
// keys (notary's witness): the repair for a role left signed only by keys
// removed from it.
func cmdSignerWitness(ctx context.Context, e *env, args []string) error {
	var o trust.Options
	fs := flags(e, "signer witness", signerWitnessSynopsis)
	yes := fs.BoolP("yes", "y", false, "do not ask before vouching for the tags of metadata that no key of its role signs now")
	serverFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usageError(signerWitnessSynopsis)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	cf := &confirmer{flag: "-y"}
	return cf.result(trust.SignerWitness(ctx, trust.WitnessOptions{Options: o, Agent: withTouchNotice(c, e.stderr), Repo: fs.Arg(0), Roles: fs.Args()[1:], Yes: *yes, Confirm: cf.confirm, Out: e.stdout}))
}
