package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/piv/pivtest"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// TestPIVScripts runs the CLI scripts in testdata/piv against a virtual
// YubiKey plugged into pcscd (run under piv/scripts/with-pcscd.sh; outside
// it the test skips, and in CI it fails), beside a SoftHSM token.
//
// Each script gets a fresh card of its own, and the scripts run one after
// another: piv-go opens a card exclusively, so two scripts' agents sharing
// one card would fail each other's operations at random, and every script
// can take the card through `trust-agent piv setup` itself. A script sees
// PIV_SERIAL, PIV_READER and PIV_ATTESTATION_CA (a PEM file of the virtual
// cards' attestation CA, for --attestation-roots).
func TestPIVScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/piv/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/piv: %v", err)
	}
	caPEM, err := virtualcard.AttestationCAPEM()
	if err != nil {
		t.Fatal(err)
	}
	pivtest.Require(t)
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			card := pivtest.Card(t)
			testscript.Run(t, testscript.Params{
				Files: []string{file},
				Setup: func(env *testscript.Env) error {
					if err := setupScript(env); err != nil {
						return err
					}
					ca := filepath.Join(env.WorkDir, ".piv", "attestation-ca.pem")
					if err := os.MkdirAll(filepath.Dir(ca), 0o700); err != nil {
						return err
					}
					if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
						return err
					}
					env.Setenv("PIV_SERIAL", fmt.Sprint(card.Card.Serial()))
					env.Setenv("PIV_READER", card.Reader)
					env.Setenv("PIV_ATTESTATION_CA", ca)
					return setupNotary(t, env, n, reg)
				},
				Cmds:                scriptCmds,
				Condition:           scriptCondition,
				RequireExplicitExec: true,
			})
		})
	}
}
