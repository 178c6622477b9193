// Package conformance_test checks every format the trust-agent binary
// registers (the imports of cmd/trust-agent/formats.go) against what the
// agent promises of formats as a whole: each key role signs for exactly
// one format, and a format's policy refuses what is not its payload, for
// every role it serves, through the agent.
package conformance_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/softstore"
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf"
)

const gun = "example.com/team/app"

var allRoles = []agent.Role{agent.RoleRoot, agent.RoleTargets, agent.RoleSnapshot, agent.RoleDelegation, agent.RoleNotation, agent.RoleCosign}

// sign asks k to sign payload in format with key id, as a client would:
// TUF through Sign (with a repository and a TUF role that fits the key),
// the others through SignPayload.
func sign(k *agent.Keyring, format string, key agent.KeyInfo, payload []byte) ([]byte, error) {
	ctx := context.Background()
	if format == agent.TUFFormat {
		role := map[agent.Role]string{agent.RoleRoot: "root", agent.RoleTargets: "targets", agent.RoleSnapshot: "snapshot"}[key.Role]
		if role == "" {
			role = "targets/releases"
		}
		sig, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: gun, Role: role, Data: payload})
		return sig.Signature, err
	}
	sig, err := k.SignPayload(ctx, agent.PayloadRequest{KeyID: key.ID, Format: format, Payload: payload})
	return sig.Signature, err
}

func TestFormats(t *testing.T) {
	if got := agent.Formats(); !slices.Equal(got, []string{"cosign", "notation", "tuf"}) {
		t.Fatalf("formats %v, want cosign, notation, tuf", got)
	}
	// The policies are reached as a client reaches them: through the
	// agent, over one software store holding a key of every role.
	s := softstore.New("conformance", "1234")
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	t.Cleanup(func() { k.Close() })
	ctx := context.Background()
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("1234")}); err != nil {
		t.Fatal(err)
	}
	keys := map[agent.Role]agent.KeyInfo{}
	for _, r := range allRoles {
		m := agent.KeyMeta{Role: r, Name: string(r)}
		if r == agent.RoleTargets || r == agent.RoleSnapshot {
			m.GUN = gun
		}
		info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: m})
		if err != nil {
			t.Fatal(err)
		}
		keys[r] = info
	}
	// Each role signs for exactly one format: a key asked for any other is
	// refused before that format's policy reads the payload.
	for _, r := range allRoles {
		var accepts []string
		for _, f := range agent.Formats() {
			_, err := sign(k, f, keys[r], []byte("not a payload of any format"))
			if !errors.Is(err, agent.ErrDenied) {
				t.Fatalf("%s key, format %s, junk payload: %v, want a refusal", r, f, err)
			}
			if !strings.Contains(err.Error(), "signed only by keys made for them") {
				accepts = append(accepts, f) // the policy itself read and refused it
			}
		}
		if len(accepts) != 1 {
			t.Errorf("a %s key reaches the policies of %v; want exactly one format", r, accepts)
		}
	}
}
