package pkcs11_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	// Notation keys are valid because format/notation registers their role.
	_ "github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestCertifyKeyOnEveryCopy: a notation key kept in custody on two SoftHSM
// tokens gets its `key certify` chain beside both copies, so either token
// alone signs with it; a copy that was not reachable when the key was
// certified gets the same chain (not a new one) from the next certify
// that reaches it.
func TestCertifyKeyOnEveryCopy(t *testing.T) {
	ctx := context.Background()
	uris := []string{softhsmtest.New(t, "1234").URI(), softhsmtest.New(t, "1234").URI()}
	// keyring opens the tokens named (by index) and an agent over them.
	keyring := func(which ...int) (*agent.Keyring, []string) {
		t.Helper()
		var stores []agent.KeyStore
		var names []string
		for _, i := range which {
			s, err := pkcs11.Open(uris[i])
			if err != nil {
				t.Fatal(err)
			}
			stores = append(stores, s)
			names = append(names, s.Name())
		}
		return agent.New(agent.Options{Stores: stores}), names
	}
	// chains returns each backend's chain for the key.
	chains := func(k *agent.Keyring, id string) map[string][][]byte {
		t.Helper()
		keys, err := k.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][][]byte{}
		for _, info := range keys {
			if info.ID == id {
				out[info.Backend] = info.Chain
			}
		}
		return out
	}
	same := func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

	// Both tokens: the key goes to both, and so does its certificate.
	k, names := keyring(0, 1)
	meta := agent.KeyMeta{Role: agent.RoleNotation, Name: "release"}
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: meta, Backend: names[0], Copies: names[1:]})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := k.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: key.ID})
	if err != nil || len(chain) != 1 {
		t.Fatalf("CertifyKey: %d certificates, %v", len(chain), err)
	}
	got := chains(k, key.ID)
	if len(got) != 2 || !same(got[names[0]], chain) || !same(got[names[1]], chain) {
		t.Fatalf("chains per backend after certify: %d backends; first holds it %v, second %v; want both",
			len(got), same(got[names[0]], chain), same(got[names[1]], chain))
	}
	k.Close()
	// The second token alone hands it out: it is on the hardware.
	k, _ = keyring(1)
	if c := chains(k, key.ID)[names[1]]; !same(c, chain) {
		t.Fatal("the second token, opened alone, has no chain for the key")
	}
	k.Close()

	// Renewed through the first token alone: the second keeps the old
	// chain until a certify reaches it, which stores the new one, as it
	// is, without making another.
	k, _ = keyring(0)
	renewed, err := k.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: key.ID, Renew: true})
	if err != nil || same(renewed, chain) {
		t.Fatalf("renew: %v (same chain: %v)", err, same(renewed, chain))
	}
	k.Close()
	k, _ = keyring(0, 1)
	again, err := k.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: key.ID})
	if err != nil || !same(again, renewed) {
		t.Fatalf("certify with both tokens after a renewal through one: %v; the renewed chain handed back: %v", err, same(again, renewed))
	}
	got = chains(k, key.ID)
	if !same(got[names[0]], renewed) || !same(got[names[1]], renewed) {
		t.Fatalf("after the catch-up: first holds the renewed chain %v, second %v; want both", same(got[names[0]], renewed), same(got[names[1]], renewed))
	}
	k.Close()
}
