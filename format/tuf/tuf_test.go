package tuf_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// TestSignPayloadRefusesTUF is the attack on the second way in: TUF
// metadata sent as a payload (message 0x0B) instead of a sign request
// (0x02), so with no repository or role to check. It is refused before any
// policy or key is asked, and audited.
func TestSignPayloadRefusesTUF(t *testing.T) {
	var log bytes.Buffer
	k, _ := newKeyring(t, agent.AuditTo(&log))
	ctx := context.Background()
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.SignPayload(ctx, agent.PayloadRequest{KeyID: key.ID, Format: agent.TUFFormat, Payload: agenttest.TargetsJSON("v1")})
	if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "sign request") || len(sig.Signature) != 0 {
		t.Fatalf("SignPayload(tuf) = %+v, %v; want a refusal pointing at the sign request", sig, err)
	}
	if !strings.Contains(log.String(), `"op":"sign-payload","key_id":"`+key.ID+`","role":"tuf"`) || !strings.Contains(log.String(), `"result":"refused"`) {
		t.Fatalf("the refusal was not audited:\n%s", log.String())
	}
	// The same payload through Sign, with its repository and role, signs.
	if _, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("v1")}); err != nil {
		t.Fatal(err)
	}
}

// TestRoles: TUF keys only; a format key (notation, cosign) is refused by
// the agent before the policy reads the payload.
func TestRoles(t *testing.T) {
	got := tuf.Policy{}.Roles()
	want := []agent.Role{agent.RoleRoot, agent.RoleTargets, agent.RoleSnapshot, agent.RoleDelegation}
	if len(got) != len(want) {
		t.Fatalf("Roles = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Roles = %v, want %v", got, want)
		}
	}
	k, _ := newKeyring(t, nil)
	ctx := context.Background()
	cos, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "release"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Sign(ctx, agent.SignRequest{KeyID: cos.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("v1")})
	if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "is a cosign key") {
		t.Fatalf("a cosign key signing TUF: %v, want a refusal naming its role", err)
	}
}
