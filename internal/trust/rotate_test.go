package trust

import (
	"bytes"
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
	if err := RotateKey(f.ctx, f.opts, f.a, "targets", f.repo, false, false, never, &out); err != nil {
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
	if err := RotateKey(f.ctx, f.opts, f.a, "snapshot", f.repo, true, false, never, &out); err != nil {
		t.Fatal(err)
	}
	snap1 := roleKeys()[data.CanonicalSnapshotRole]
	if len(snap1) != 1 || snap1[0] == snap0[0] || f.keyIDs(t, agent.RoleSnapshot)[snap1[0]] {
		t.Fatalf("snapshot keys %v -> %v, want a new server key", snap0, snap1)
	}
	if err := RotateKey(f.ctx, f.opts, f.a, "snapshot", f.repo, false, false, never, &out); err != nil {
		t.Fatal(err)
	}
	snap2 := roleKeys()[data.CanonicalSnapshotRole]
	if len(snap2) != 1 || !f.keyIDs(t, agent.RoleSnapshot)[snap2[0]] {
		t.Fatalf("snapshot keys %v, want the agent's", snap2)
	}
	f.inspect(t)

	// root: asked; "no" changes nothing.
	out.Reset()
	if err := RotateKey(f.ctx, f.opts, f.a, "root", f.repo, false, false, func(string) bool { return false }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "Aborting action.\n") || len(f.keyIDs(t, agent.RoleRoot)) != 1 {
		t.Fatalf("refused root rotation: output %q, root keys %v", out.String(), f.keyIDs(t, agent.RoleRoot))
	}
	out.Reset()
	if err := RotateKey(f.ctx, f.opts, f.a, "root", f.repo, false, true, never, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Successfully rotated root key for repository "+gun+"\n") {
		t.Fatalf("output %q", out.String())
	}
	// docker, which trusted the old root, follows the rotation.
	root2, targets2 := adminKeys(t, f.inspect(t))
	if root2 == root0 || targets2 != targets1 || len(f.keyIDs(t, agent.RoleRoot)) != 2 {
		t.Fatalf("after rotating root: root %s (before %s), targets %s (before %s)", root2, root0, targets2, targets1)
	}
	// A fresh client trusts the new root on first use, and the tag verifies.
	fresh := trusttest.NewDockerConfig(t, f.n)
	v, err := Verify(f.ctx, Options{ConfigDir: fresh.Dir, Server: f.n.URL}, f.imgs[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	if v.Digest != f.imgs[0].Digest {
		t.Fatalf("Verify = %+v, want %s", v, f.imgs[0].Digest)
	}
	// The new root and targets keys still sign: revoke the tag.
	if err := Revoke(f.ctx, f.opts, f.a, f.imgs[0].Ref, false, never, &out); err != nil {
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
		if err := RotateKey(f.ctx, f.opts, f.a, c.role, f.repo, c.server, true, never, &out); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rotating %s (server %v): %v, want %q", c.role, c.server, err, c.want)
		}
	}
}
