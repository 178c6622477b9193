package trust

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// currentRootKeys returns the PKIX DER of the root role's keys in the
// repository's current root.json on the server.
func currentRootKeys(t *testing.T, o Options, repoRef string) map[string]bool {
	t.Helper()
	ref, err := parseRef(repoRef)
	if err != nil {
		t.Fatal(err)
	}
	h := rootHistory(context.Background(), o, ref)
	if len(h.rootPubs) == 0 {
		t.Fatalf("could not read %s's root.json", repoRef)
	}
	return h.rootPubs
}

// importDockerRootKey loads the root key docker wrote under dc.Dir into a,
// as `trust-agent key load` does.
func importDockerRootKey(t *testing.T, a agent.Agent, dc *trusttest.DockerConfig) agent.KeyInfo {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dc.Dir, "trust", "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("role: root")) {
			continue
		}
		kf, err := ParseKeyFile(b, func(string) ([]byte, error) { return []byte(trusttest.RootPassphrase), nil })
		if err != nil {
			t.Fatal(err)
		}
		info, err := a.Import(context.Background(), agent.ImportRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "docker-root"}, PKCS8: kf.PKCS8})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	t.Fatalf("no root key in %s", dc.Dir)
	return agent.KeyInfo{}
}

// TestRotateRootAfterImport: a root key loaded from docker's files is the
// current root key (root.json lists it under docker's certificate, an ID
// the agent never saw); rotating root must put a new hardware key in
// root.json, not reuse the imported one as if a failed rotation had left
// it. Before the fix the rotation said "Reusing root key" and root.json
// kept the same public key.
func TestRotateRootAfterImport(t *testing.T) {
	ctx := context.Background()
	n := trusttest.StartNotary(t)
	img := trusttest.StartRegistry(t).PushRandom(t, "imported/rotate", "v1")
	dc := trusttest.NewDockerConfig(t, n)
	dc.AddSigner(t, "alice", img.Repo) // docker makes the repository with its own file keys
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}

	yes, asked := yesAskpass(t) // a root rotation changes the root keys: a person confirms it
	a := agent.New(agent.Options{Stores: []agent.KeyStore{&softStore{}}, Askpass: yes})
	t.Cleanup(func() { a.Close() })
	imported := importDockerRootKey(t, a, dc)
	if before := currentRootKeys(t, opts, img.Repo); !before[string(imported.PublicKey)] {
		t.Fatal("the imported key is not the repository's root key")
	}

	var out bytes.Buffer
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Out: &out, Agent: a, Role: "root", Repo: img.Repo}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "Reusing") {
		t.Fatalf("the rotation reused a key:\n%s", out.String())
	}
	after := currentRootKeys(t, opts, img.Repo)
	if after[string(imported.PublicKey)] || len(after) != 1 {
		t.Fatalf("root.json's root role after rotation: %d keys, imported key still there: %v\n%s", len(after), after[string(imported.PublicKey)], out.String())
	}
	keys, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, k := range keys {
		if k.Role == agent.RoleRoot && k.ID != imported.ID && after[string(k.PublicKey)] {
			held = true
		}
	}
	if !held {
		t.Fatalf("the new root key is not one the agent holds\n%s", out.String())
	}
	if q, err := os.ReadFile(asked); err != nil || !bytes.Contains(q, []byte("NOT held by this agent")) && !bytes.Contains(q, []byte("held here")) {
		t.Fatalf("the rotation was not confirmed through askpass (%v): %q", err, q)
	}
	// A second rotation makes another key again: neither the imported key
	// nor the first rotation's key is taken for an unpublished one.
	out.Reset()
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Out: &out, Agent: a, Role: "root", Repo: img.Repo}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "Reusing") {
		t.Fatalf("the second rotation reused a key:\n%s", out.String())
	}
}
