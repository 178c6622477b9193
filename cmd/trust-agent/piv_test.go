package main

import (
	"fmt"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/piv/pivtest"
)

// TestPIVScripts runs the CLI scripts in testdata/piv against a virtual
// YubiKey plugged into pcscd (run under piv/scripts/with-pcscd.sh; outside
// it the test skips, and in CI it fails), beside a SoftHSM token.
func TestPIVScripts(t *testing.T) {
	card := pivtest.Card(t)
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/piv",
		Setup: func(env *testscript.Env) error {
			if err := setupScript(env); err != nil {
				return err
			}
			env.Setenv("PIV_SERIAL", fmt.Sprint(card.Card.Serial()))
			env.Setenv("PIV_READER", card.Reader)
			return setupNotary(t, env, n, reg)
		},
		Cmds:                scriptCmds,
		Condition:           scriptCondition,
		RequireExplicitExec: true,
	})
}
