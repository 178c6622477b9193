package trust

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// socketAgent runs an agent over a fresh SoftHSM token behind a real Unix
// socket and returns a client, as the CLI would see it.
func socketAgent(t *testing.T) agent.Agent {
	t.Helper()
	return startLiveAgent(t).client()
}

// TestHardwareKeysDockerReads makes a repository whose root, targets and
// delegation keys are on a SoftHSM token behind the agent's socket, signs a
// tag into targets/releases and targets/alice as docker trust sign would,
// and checks that docker reads it and Verify trusts it.
func TestHardwareKeysDockerReads(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "hw/app")
	a, n, img, dc, opts := env.la.client(), env.n, env.img, env.dc, env.opts

	ref, err := parseRef(img.Repo)
	if err != nil {
		t.Fatal(err)
	}
	cs := NewCryptoService(a, ref.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, opts, ref, cs, actionsPushPull...)
	if err != nil {
		t.Fatal(err)
	}
	root, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := initialize(repo, cs, root.ID); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(); err != nil {
		t.Fatalf("first publish: %v", err)
	}

	alice, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	cs.forget() // a key made beside the CryptoService, as another command would
	alicePub, err := publicKey(alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []data.RoleName{releasesRole, "targets/alice"} {
		if err := repo.AddDelegation(role, []data.PublicKey{alicePub}, []string{""}); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Publish(); err != nil {
		t.Fatalf("publishing the delegations: %v", err)
	}

	sum, err := hex.DecodeString(img.Hex)
	if err != nil {
		t.Fatal(err)
	}
	target := &client.Target{Name: img.Tag, Hashes: data.Hashes{"sha256": sum}, Length: img.Size}
	// A delegation key serves both roles: publish them one at a time.
	for _, role := range []data.RoleName{releasesRole, "targets/alice"} {
		if err := repo.AddTarget(target, role); err != nil {
			t.Fatal(err)
		}
		if err := cs.SetDelegationRole(role); err != nil {
			t.Fatal(err)
		}
		if err := repo.Publish(); err != nil {
			t.Fatalf("publishing %s: %v", role, err)
		}
	}

	// Docker reads it, and our inspect prints the same.
	want := dc.MustDocker(t, "trust", "inspect", img.Repo)
	repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{img.Repo}})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteJSON(&got, repos); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Fatalf("inspect differs\n--- docker:\n%s\n--- ours:\n%s", want, got.String())
	}
	r := repos[0]
	if len(r.SignedTags) != 1 || r.SignedTags[0].Digest != img.Hex || len(r.SignedTags[0].Signers) != 1 || r.SignedTags[0].Signers[0] != "alice" {
		t.Fatalf("signed tags %+v, want v1 signed by alice", r.SignedTags)
	}
	if len(r.Signers) != 1 || r.Signers[0].Keys[0].ID != alice.ID {
		t.Fatalf("signers %+v, want alice with key %s", r.Signers, alice.ID)
	}
	cert, err := cs.RootCertificate(root.ID) // the stored one
	if err != nil {
		t.Fatal(err)
	}
	if r.AdministrativeKeys[0].Name != "Root" || r.AdministrativeKeys[0].Keys[0].ID != cert.ID() {
		t.Fatalf("root keys %+v, want the certificate's ID %s", r.AdministrativeKeys[0], cert.ID())
	}
	targetsKeys := cs.ListKeys(data.CanonicalTargetsRole)
	if len(targetsKeys) != 1 || r.AdministrativeKeys[1].Keys[0].ID != targetsKeys[0] {
		t.Fatalf("repository keys %+v, want the agent's targets key %v", r.AdministrativeKeys[1], targetsKeys)
	}

	// Verify, in a fresh configuration: trust on first use of the root.
	fresh := trusttest.NewDockerConfig(t, n)
	v, err := Verify(ctx, VerifyOptions{Options: Options{ConfigDir: fresh.Dir, Server: n.URL}, Ref: img.Ref})
	if err != nil {
		t.Fatal(err)
	}
	if v.Digest != img.Digest || v.Role != releasesRole.String() {
		t.Fatalf("Verify = %+v, want %s from targets/releases", v, img.Digest)
	}

	// A locked agent cannot sign: the error names the lock.
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := repo.AddTarget(&client.Target{Name: "v2", Hashes: target.Hashes, Length: target.Length}, releasesRole); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetDelegationRole(releasesRole); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(); !errors.Is(err, agent.ErrLocked) {
		t.Fatalf("publish with a locked agent: %v, want agent.ErrLocked", err)
	}
}
