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

// BenchmarkAgentSign measures one TUF signature by a SoftHSM P-256 key,
// asked of the agent directly and through the socket, side by side, so
// `make bench` can print what the socket costs.
func BenchmarkAgentSign(b *testing.B) {
	tok := softhsmtest.New(b, "13579")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		b.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}})
	b.Cleanup(func() { k.Close() })
	key, err := k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "agent", "sock")
	l, err := socket.Listen(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go socket.Serve(ctx, l, k, socket.ServeOptions{})
	req := agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("latest", "v1", "v2")}
	for _, tc := range []struct {
		name string
		dial func() agent.Agent
	}{
		{"direct", func() agent.Agent { return k }},
		{"socket", func() agent.Agent {
			c, err := socket.Dial(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := tc.dial()
			for b.Loop() {
				if _, err := a.Sign(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				a := tc.dial() // one connection per goroutine, as separate CLI processes would
				for pb.Next() {
					if _, err := a.Sign(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
