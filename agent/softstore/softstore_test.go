package softstore_test

import (
	"context"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/agent/softstore"
)

// TestConformance: the software store passes the suite every KeyStore
// passes.
func TestConformance(t *testing.T) {
	s := softstore.New("suite", "1234")
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	t.Cleanup(func() { k.Close() })
	if err := k.Unlock(context.Background(), agent.UnlockRequest{PIN: []byte("1234")}); err != nil {
		t.Fatal(err)
	}
	agenttest.Run(t, agenttest.Config{Agent: k, PIN: "1234"})
}
