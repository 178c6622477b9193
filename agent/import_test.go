package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// TestImportTwiceRefused: a key the token already holds is not loaded a
// second time (two objects for one key, under two names).
func TestImportTwiceRefused(t *testing.T) {
	ctx := context.Background()
	k, _ := newKeyring(t, nil)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := func() []byte {
		b, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, err := k.Import(ctx, agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "alice"}, PKCS8: der()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Import(ctx, agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "alice2"}, PKCS8: der()})
	if !errors.Is(err, agent.ErrInvalidRequest) || !strings.Contains(err.Error(), "already holds this key (ID "+first.ID) {
		t.Fatalf("second import: %v", err)
	}
	keys, err := k.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d keys after a refused second import, want 1", len(keys))
	}
}
