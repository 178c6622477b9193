package socket_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// TestClientSuite runs agent's shared suite through a real Unix socket
// against the real agent on a SoftHSM token: the client must behave exactly
// as the Keyring does, errors included.
func TestClientSuite(t *testing.T) {
	tok := softhsmtest.New(t, "13579")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}})
	t.Cleanup(func() { k.Close() })
	path := filepath.Join(t.TempDir(), "agent", "sock")
	l, err := socket.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, k, socket.ServeOptions{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c, err := socket.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	agenttest.Run(t, agenttest.Config{Agent: c, PIN: tok.PIN})
}
