// Package format_test holds what is true of the format registry as a
// whole. Its test binary imports no format package on purpose: it is an
// agent built without format/tuf.
package format_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/softstore"
)

// TestSignWithoutTUFFormat: a Keyring whose program did not import
// format/tuf refuses every TUF signature with one line saying so, signs
// nothing, and audits the request.
func TestSignWithoutTUFFormat(t *testing.T) {
	if len(agent.Formats()) != 0 {
		t.Fatalf("formats %v registered; this test binary must import none", agent.Formats())
	}
	var log bytes.Buffer
	k := agent.New(agent.Options{Stores: []agent.KeyStore{softstore.New("notuf", "1234")}, Audit: agent.AuditTo(&log)})
	t.Cleanup(func() { k.Close() })
	ctx := context.Background()
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte("1234")}); err != nil {
		t.Fatal(err)
	}
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":1}`)
	sig, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: "example.com/team/app", Role: "targets/releases", Data: data})
	if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "format/tuf") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Sign = %v, want one line naming format/tuf", err)
	}
	if len(sig.Signature) != 0 {
		t.Fatal("a signature came back with the refusal")
	}
	if !strings.Contains(log.String(), `"op":"sign"`) || !strings.Contains(log.String(), `"result":"refused"`) {
		t.Fatalf("the refusal was not audited:\n%s", log.String())
	}
}
