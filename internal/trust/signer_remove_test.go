package trust

import (
	"bytes"
	"context"
	"encoding/hex"
	"sort"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// adminRepo is a repository on a real notary server whose root, targets
// and delegation (alice, in targets/releases and targets/alice) keys are
// on a SoftHSM agent behind a socket, with tags signed by alice.
type adminRepo struct {
	ctx   context.Context
	a     agent.Agent
	n     *trusttest.Notary
	dc    *trusttest.DockerConfig
	opts  Options
	repo  string // HOST:PORT/NAME
	root  agent.KeyInfo
	alice agent.KeyInfo
	imgs  []trusttest.Image
}

func newAdminRepo(t *testing.T, name string, tags ...string) *adminRepo {
	t.Helper()
	ctx := context.Background()
	f := &adminRepo{ctx: ctx, a: socketAgent(t), n: trusttest.StartNotary(t)}
	reg := trusttest.StartRegistry(t)
	for _, tag := range tags {
		f.imgs = append(f.imgs, reg.PushRandom(t, name, tag))
	}
	f.repo = f.imgs[0].Repo
	f.dc = trusttest.NewDockerConfig(t, f.n)
	f.opts = Options{ConfigDir: f.dc.Dir, Server: f.n.URL}

	ref, err := parseRef(f.repo)
	if err != nil {
		t.Fatal(err)
	}
	cs := NewCryptoService(f.a, ref.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, f.opts, ref, cs, actionsPushPull...)
	if err != nil {
		t.Fatal(err)
	}
	if f.root, err = f.a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}}); err != nil {
		t.Fatal(err)
	}
	if err := initialize(repo, cs, f.root.ID); err != nil {
		t.Fatal(err)
	}
	f.alice = f.addSigner(t, repo, "alice")
	roles := []data.RoleName{releasesRole, "targets/alice"}
	for _, img := range f.imgs {
		sum, err := hex.DecodeString(img.Hex)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.AddTarget(&client.Target{Name: img.Tag, Hashes: data.Hashes{"sha256": sum}, Length: img.Size}, roles...); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.SetDelegationRole(roles...); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(); err != nil {
		t.Fatalf("publishing the signed tags: %v", err)
	}
	return f
}

// addSigner makes a delegation key NAME on the agent and stages it into
// targets/releases and targets/NAME, publishing if repo is nil.
func (f *adminRepo) addSigner(t *testing.T, repo client.Repository, name string) agent.KeyInfo {
	t.Helper()
	if repo == nil {
		ref, err := parseRef(f.repo)
		if err != nil {
			t.Fatal(err)
		}
		cs := NewCryptoService(f.a, ref.gun.String()).WithContext(f.ctx)
		if repo, err = openRepo(f.ctx, f.opts, ref, cs, actionsPushPull...); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := repo.Publish(); err != nil {
				t.Fatalf("publishing signer %s: %v", name, err)
			}
		}()
	}
	k, err := f.a.Generate(f.ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	// A key made beside the repository's CryptoService, as another command
	// would: it lists the agent's keys again.
	repo.GetCryptoService().(*CryptoService).forget()
	pub, err := publicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []data.RoleName{releasesRole, data.RoleName("targets/" + name)} {
		if err := repo.AddDelegation(role, []data.PublicKey{pub}, []string{""}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// inspect is docker's view of the repository.
func (f *adminRepo) inspect(t *testing.T) Repository {
	t.Helper()
	out := f.dc.MustDocker(t, "trust", "inspect", f.repo)
	repos, err := Inspect(f.ctx, InspectOptions{Options: f.opts, Refs: []string{f.repo}})
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	if err := WriteJSON(&ours, repos); err != nil {
		t.Fatal(err)
	}
	if ours.String() != out {
		t.Fatalf("inspect differs\n--- docker:\n%s\n--- ours:\n%s", out, ours.String())
	}
	return repos[0]
}

func signerNames(r Repository) []string {
	var names []string
	for _, s := range r.Signers {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

func TestSignerRemove(t *testing.T) {
	f := newAdminRepo(t, "admin/signers", "v1")
	f.addSigner(t, nil, "bob")
	if got := strings.Join(signerNames(f.inspect(t)), ","); got != "alice,bob" {
		t.Fatalf("signers %s, want alice,bob", got)
	}

	// bob signed nothing: no question asked.
	var out bytes.Buffer
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	if err := SignerRemove(f.ctx, SignerRemoveOptions{Options: f.opts, Agent: f.a, Name: "bob", Repo: f.repo, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	want := "Removing signer \"bob\" from " + f.repo + "...\nSuccessfully removed bob from " + f.repo + "\n\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	r := f.inspect(t)
	if got := strings.Join(signerNames(r), ","); got != "alice" {
		t.Fatalf("after removing bob, signers %s, want alice", got)
	}

	// alice signs the last release: asked; "no" keeps her.
	out.Reset()
	var asked string
	if err := SignerRemove(f.ctx, SignerRemoveOptions{Options: f.opts, Agent: f.a, Name: "alice", Repo: f.repo, Confirm: func(p string) bool { asked = p; return false }, Out: &out}); err != nil {
		t.Fatal(err)
	}
	wantPrompt := "The signer \"alice\" signs the last released version of " + f.repo + ". Removing this signer will make " + f.repo + " unpullable. Are you sure you want to continue? [y/N] "
	if asked != wantPrompt {
		t.Fatalf("prompt %q, want %q", asked, wantPrompt)
	}
	if !strings.HasSuffix(out.String(), "\nAborting action.\n") {
		t.Fatalf("output %q, want Aborting action.", out.String())
	}
	if got := strings.Join(signerNames(f.inspect(t)), ","); got != "alice" {
		t.Fatalf("after refusing, signers %s, want alice", got)
	}

	// Forced: gone.
	out.Reset()
	if err := SignerRemove(f.ctx, SignerRemoveOptions{Options: f.opts, Agent: f.a, Name: "alice", Repo: f.repo, Force: true, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Successfully removed alice from "+f.repo) {
		t.Fatalf("output %q", out.String())
	}
	if r := f.inspect(t); len(r.Signers) != 0 {
		t.Fatalf("signers %+v after removing alice, want none", r.Signers)
	}

	// Unknown and reserved signers.
	err := SignerRemove(f.ctx, SignerRemoveOptions{Options: f.opts, Agent: f.a, Name: "carol", Repo: f.repo, Force: true, Confirm: never, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "no signer carol for repository "+f.repo) {
		t.Fatalf("removing carol: %v", err)
	}
	err = SignerRemove(f.ctx, SignerRemoveOptions{Options: f.opts, Agent: f.a, Name: "releases", Repo: f.repo, Force: true, Confirm: never, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "releases is a reserved keyword and cannot be removed") {
		t.Fatalf("removing releases: %v", err)
	}
}
