package trust

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// TestRootOnTwoTokens: a root key held on two SoftHSM tokens without
// touching disk serves a repository; after its copy on the first token
// is deleted, the second signs a root rotation, and the new root key is
// again held by the token that is left.
func TestRootOnTwoTokens(t *testing.T) {
	ctx := context.Background()
	var stores []*pkcs11.Store
	for range 2 {
		s, err := pkcs11.Open(softhsmtest.New(t, "1234").URI())
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	first, second := stores[0].Name(), stores[1].Name()
	yes, asked := yesAskpass(t)
	a := agent.New(agent.Options{Stores: []agent.KeyStore{stores[0], stores[1]}, Askpass: yes})
	t.Cleanup(func() { a.Close() })

	root, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: first, Copies: []string{second}})
	if err != nil {
		t.Fatal(err)
	}
	if held := backendsOf(t, a, root.ID); len(held) != 2 || !held[first] || !held[second] {
		t.Fatalf("the root key is on %v, want both tokens", held)
	}

	n := trusttest.StartNotary(t)
	img := trusttest.StartRegistry(t).PushRandom(t, "custody/app", "v1")
	dc := trusttest.NewDockerConfig(t, n)
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}
	_, pub := generatePub(t, a, "alice")
	var out bytes.Buffer
	if err := SignerAdd(ctx, SignerAddOptions{Options: opts, Out: &out, Agent: a, Name: "alice", KeyFiles: []string{pub}, Repos: []string{img.Repo}}); err != nil {
		t.Fatalf("signer add: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "Generated a new root key") || !currentRootKeys(t, opts, img.Repo)[string(root.PublicKey)] {
		t.Fatalf("the repository does not use the key on two tokens:\n%s", out.String())
	}

	// Lose the first token's copy.
	if err := a.Delete(ctx, agent.DeleteRequest{KeyID: root.ID, Backend: first}); err != nil {
		t.Fatal(err)
	}
	if held := backendsOf(t, a, root.ID); len(held) != 1 || !held[second] {
		t.Fatalf("after deleting the first copy the root key is on %v, want %s only", held, second)
	}

	out.Reset()
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Out: &out, Agent: a, Role: "root", Repo: img.Repo}); err != nil {
		t.Fatalf("rotating root with the second token's copy: %v\n%s", err, out.String())
	}
	after := currentRootKeys(t, opts, img.Repo)
	if after[string(root.PublicKey)] || len(after) != 1 {
		t.Fatalf("root.json still lists the old root key after rotation\n%s", out.String())
	}
	keys, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var newOn []string
	for _, k := range keys {
		if after[string(k.PublicKey)] {
			newOn = append(newOn, k.Backend)
		}
	}
	if len(newOn) != 1 || newOn[0] != second {
		t.Fatalf("the new root key is on %v, want %s", newOn, second)
	}
	if q := readFile(t, asked); !strings.Contains(q, "Delete the root key") {
		t.Fatalf("the delete was not confirmed through askpass: %q", q)
	}
	// The docker CLI reads the rotated repository.
	if got := dc.MustDocker(t, "trust", "inspect", img.Repo); !strings.Contains(got, "alice") {
		t.Fatalf("docker trust inspect after the rotation:\n%s", got)
	}
}

// TestDeleteNeedsAPerson: a delete with no askpass, or one a person
// declines, removes nothing.
func TestDeleteNeedsAPerson(t *testing.T) {
	ctx := context.Background()
	s, err := pkcs11.Open(softhsmtest.New(t, "1234").URI())
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	t.Cleanup(func() { a.Close() })
	k, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Delete(ctx, agent.DeleteRequest{KeyID: k.ID})
	if !errors.Is(err, agent.ErrDenied) || !strings.Contains(err.Error(), "TRUST_AGENT_ASKPASS") {
		t.Fatalf("delete without askpass: %v", err)
	}
	if held := backendsOf(t, a, k.ID); len(held) != 1 {
		t.Fatal("the key is gone after a refused delete")
	}
	if err := a.Delete(ctx, agent.DeleteRequest{KeyID: "00" + k.ID[2:]}); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("delete of an unknown key: %v", err)
	}
}

func backendsOf(t *testing.T, a agent.Agent, id string) map[string]bool {
	t.Helper()
	keys, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, k := range keys {
		if k.ID == id {
			m[k.Backend] = true
		}
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
