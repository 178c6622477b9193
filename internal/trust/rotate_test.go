package trust

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// adminKeys returns docker's Root and Repository key IDs.
func adminKeys(t *testing.T, r Repository) (root, targets string) {
	t.Helper()
	if len(r.AdministrativeKeys) != 2 || len(r.AdministrativeKeys[0].Keys) != 1 || len(r.AdministrativeKeys[1].Keys) != 1 {
		t.Fatalf("administrative keys %+v, want one Root and one Repository key", r.AdministrativeKeys)
	}
	return r.AdministrativeKeys[0].Keys[0].ID, r.AdministrativeKeys[1].Keys[0].ID
}

func (f *adminRepo) keyIDs(t *testing.T, role agent.Role) map[string]bool {
	t.Helper()
	keys, err := f.a.List(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, k := range keys {
		if k.Role == role {
			m[k.ID] = true
		}
	}
	return m
}

func TestRotateKey(t *testing.T) {
	f := newAdminRepo(t, "admin/rotate", "v1")
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	gun := f.repo
	root0, targets0 := adminKeys(t, f.inspect(t))

	// targets: a new key on the agent.
	var out bytes.Buffer
	if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: "targets", Repo: f.repo, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "Successfully rotated targets key for repository " + gun + "\n"; out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	root1, targets1 := adminKeys(t, f.inspect(t))
	if root1 != root0 || targets1 == targets0 || !f.keyIDs(t, agent.RoleTargets)[targets1] {
		t.Fatalf("after rotating targets: root %s targets %s (before %s %s); want a new targets key on the agent", root1, targets1, root0, targets0)
	}

	// snapshot: to the server (-r), then back to the agent.
	roleKeys := func() map[data.RoleName][]string {
		ref, _ := parseRef(f.repo)
		repo, err := openRepo(f.ctx, f.opts, ref, nil, actionsPull...)
		if err != nil {
			t.Fatal(err)
		}
		roles, err := repo.ListRoles()
		if err != nil {
			t.Fatal(err)
		}
		m := map[data.RoleName][]string{}
		for _, r := range roles {
			m[r.Name] = r.KeyIDs
		}
		return m
	}
	snap0 := roleKeys()[data.CanonicalSnapshotRole]
	if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: "snapshot", Repo: f.repo, ServerManaged: true, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	snap1 := roleKeys()[data.CanonicalSnapshotRole]
	if len(snap1) != 1 || snap1[0] == snap0[0] || f.keyIDs(t, agent.RoleSnapshot)[snap1[0]] {
		t.Fatalf("snapshot keys %v -> %v, want a new server key", snap0, snap1)
	}
	if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: "snapshot", Repo: f.repo, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	snap2 := roleKeys()[data.CanonicalSnapshotRole]
	if len(snap2) != 1 || !f.keyIDs(t, agent.RoleSnapshot)[snap2[0]] {
		t.Fatalf("snapshot keys %v, want the agent's", snap2)
	}
	f.inspect(t)

	// root: asked; "no" changes nothing.
	out.Reset()
	if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: "root", Repo: f.repo, Confirm: func(string) bool { return false }, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "Aborting action.\n") || len(f.keyIDs(t, agent.RoleRoot)) != 1 {
		t.Fatalf("refused root rotation: output %q, root keys %v", out.String(), f.keyIDs(t, agent.RoleRoot))
	}
	out.Reset()
	if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: "root", Repo: f.repo, Yes: true, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nSuccessfully rotated root key for repository "+gun+"\n") {
		t.Fatalf("output %q", out.String())
	}
	// docker, which trusted the old root, follows the rotation.
	root2, targets2 := adminKeys(t, f.inspect(t))
	if root2 == root0 || targets2 != targets1 || len(f.keyIDs(t, agent.RoleRoot)) != 2 {
		t.Fatalf("after rotating root: root %s (before %s), targets %s (before %s)", root2, root0, targets2, targets1)
	}
	// A fresh client trusts the new root on first use, and the tag verifies.
	fresh := trusttest.NewDockerConfig(t, f.n)
	v, err := Verify(f.ctx, VerifyOptions{Options: Options{ConfigDir: fresh.Dir, Server: f.n.URL}, Ref: f.imgs[0].Ref})
	if err != nil {
		t.Fatal(err)
	}
	if v.Digest != f.imgs[0].Digest {
		t.Fatalf("Verify = %+v, want %s", v, f.imgs[0].Digest)
	}
	// The new root and targets keys still sign: revoke the tag.
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.imgs[0].Ref, Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}

	// Refused combinations.
	for _, c := range []struct {
		role, want string
		server     bool
	}{
		{"targets", "does not currently permit the server to manage the targets key", true},
		{"timestamp", "always managed by the server", false},
		{"targets/alice", "invalid role", false},
	} {
		if err := Rotate(f.ctx, RotateOptions{Options: f.opts, Agent: f.a, Role: c.role, Repo: f.repo, ServerManaged: c.server, Yes: true, Confirm: never, Out: &out}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rotating %s (server %v): %v, want %q", c.role, c.server, err, c.want)
		}
	}
}

// namedStore is a softStore with its own backend name, so that a test can
// give the agent several backends (a "piv:" name stands for a card, and
// has the kind "piv").
type namedStore struct {
	*softStore
	name string
}

func (s namedStore) Name() string { return s.name }

func (s namedStore) Kind() string {
	if strings.HasPrefix(s.name, "piv:") {
		return "piv"
	}
	return "pkcs11"
}

// Abilities: a "piv:" store holds one root key and is preferred for a
// first root key, as a card is (it says Attest, though a test never asks).
func (s namedStore) Abilities() agent.Abilities {
	a := agent.Abilities{Import: true, Algorithms: []string{agent.AlgorithmECDSA}}
	if s.Kind() == "piv" {
		a.MaxRootKeys, a.Attest = 1, true
	}
	return a
}

// multiBackendRepo is a repository on a real notary server whose root key
// is on backend rootOn of an in-process agent with the backends names
// (software stores), and whose targets key is on the first backend.
func multiBackendRepo(t *testing.T, repoName, rootOn string, names ...string) (*agent.Keyring, Options, string) {
	t.Helper()
	ctx := context.Background()
	var stores []agent.KeyStore
	for _, n := range names {
		stores = append(stores, namedStore{&softStore{}, n})
	}
	yes, _ := yesAskpass(t)
	a := agent.New(agent.Options{Stores: stores, Askpass: yes})
	t.Cleanup(func() { a.Close() })
	n := trusttest.StartNotary(t)
	img := trusttest.StartRegistry(t).PushRandom(t, repoName, "v1")
	dc := trusttest.NewDockerConfig(t, n)
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}
	ref, err := parseRef(img.Repo)
	if err != nil {
		t.Fatal(err)
	}
	cs := NewCryptoService(a, ref.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, opts, ref, cs, actionsPushPull...)
	if err != nil {
		t.Fatal(err)
	}
	root, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: rootOn})
	if err != nil {
		t.Fatal(err)
	}
	if err := initialize(repo, cs, root.ID); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(); err != nil {
		t.Fatal(err)
	}
	return a, opts, img.Repo
}

func rootKeysByBackend(t *testing.T, a agent.Agent) map[string]int {
	t.Helper()
	keys, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, k := range keys {
		if k.Role == agent.RoleRoot {
			m[k.Backend]++
		}
	}
	return m
}

// TestRotateRootStaysOnItsBackend: the new root key is made where the old
// one is, not on the agent's first backend; --backend moves it on purpose.
func TestRotateRootStaysOnItsBackend(t *testing.T) {
	ctx := context.Background()
	a, opts, repo := multiBackendRepo(t, "backend/rotate", "card", "token", "card")
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	var out bytes.Buffer
	if err := Rotate(ctx, RotateOptions{Options: opts, Agent: a, Role: "root", Repo: repo, Yes: true, Confirm: never, Out: &out}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := rootKeysByBackend(t, a); got["card"] != 2 || got["token"] != 0 {
		t.Fatalf("root keys per backend %v after rotating, want both on card", got)
	}
	if !strings.Contains(out.String(), "Generated a new root key on card (soft:") {
		t.Fatalf("output does not say where the key was made:\n%s", out.String())
	}
	out.Reset()
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Backend: "token", Out: &out, Agent: a, Role: "root", Repo: repo}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := rootKeysByBackend(t, a); got["card"] != 2 || got["token"] != 1 {
		t.Fatalf("root keys per backend %v after --backend token, want 2 on card and 1 on token", got)
	}
}

// TestRotateRootOnPIVCard: a card holds one root key (slot 9c), so a root
// on a card is not rotated onto the same card, nor silently elsewhere.
func TestRotateRootOnPIVCard(t *testing.T) {
	ctx := context.Background()
	const card = "piv:serial=7"
	a, opts, repo := multiBackendRepo(t, "backend/piv", card, "token", card)
	var out bytes.Buffer
	err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Out: &out, Agent: a, Role: "root", Repo: repo})
	t.Logf("%v; hint: %s", err, Hint(err))
	if err == nil || !strings.Contains(err.Error(), "holds at most 1 root key(s) (a PIV card: one, in slot 9c)") || !strings.Contains(Hint(err), "--backend") {
		t.Fatalf("err = %v, hint %q", err, Hint(err))
	}
	if got := rootKeysByBackend(t, a); got[card] != 1 || got["token"] != 0 {
		t.Fatalf("root keys per backend %v after a refused rotation, want the one on the card", got)
	}
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Backend: card, Out: &out, Agent: a, Role: "root", Repo: repo}); err == nil {
		t.Fatal("rotated onto the card that holds the root key")
	}
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Backend: "token", Out: &out, Agent: a, Role: "root", Repo: repo}); err != nil {
		t.Fatal(err)
	}
	if got := rootKeysByBackend(t, a); got[card] != 1 || got["token"] != 1 {
		t.Fatalf("root keys per backend %v, want one on each", got)
	}
}

// TestRotateRetryReusesKey: a rotation whose publish failed leaves its new
// key on the hardware; the same command uses it instead of making another,
// and a key rotated out is never reused.
func TestRotateRetryReusesKey(t *testing.T) {
	ctx := context.Background()
	a, opts, repo := multiBackendRepo(t, "retry/rotate", "token", "token")
	count := func(role agent.Role) int {
		keys, err := a.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range keys {
			if k.Role == role {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		role string
		kind agent.Role
	}{{"targets", agent.RoleTargets}, {"snapshot", agent.RoleSnapshot}, {"root", agent.RoleRoot}} {
		before := count(c.kind)
		var out bytes.Buffer
		o := RotateOptions{Options: opts, Yes: true, Out: &out}
		for i := 0; i < 2; i++ {
			o.Agent, o.Role, o.Repo = refusingAgent{a}, c.role, repo
			if err := Rotate(ctx, o); err == nil {
				t.Fatalf("%s: rotated without signatures", c.role)
			}
		}
		o.Agent, o.Role, o.Repo = a, c.role, repo
		if err := Rotate(ctx, o); err != nil {
			t.Fatalf("%s: %v\n%s", c.role, err, out.String())
		}
		if got := count(c.kind); got != before+1 {
			t.Fatalf("%s: %d keys after two failed rotations and a good one, want %d\n%s", c.role, got, before+1, out.String())
		}
		if !strings.Contains(out.String(), "Reusing "+c.role+" key") {
			t.Fatalf("%s: output does not say the key was reused:\n%s", c.role, out.String())
		}
		// The key rotated out is not taken for the next rotation.
		out.Reset()
		o.Agent, o.Role, o.Repo = a, c.role, repo
		if err := Rotate(ctx, o); err != nil {
			t.Fatal(err)
		}
		if got := count(c.kind); got != before+2 || strings.Contains(out.String(), "Reusing") {
			t.Fatalf("%s: %d keys after another rotation, want %d (a new one)\n%s", c.role, got, before+2, out.String())
		}
	}
}
