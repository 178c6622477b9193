package trust

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// handover is the story of issue 9: alice (keys on the admin's agent, with
// the root and repository keys) signs v1; bob, on his own machine (his own
// agent and docker configuration), is added as a signer.
type handover struct {
	ctx        context.Context
	env        *signEnv
	admin, bob *liveAgent
	bobOpts    Options
	bobKey     agent.KeyInfo
}

func newHandover(t *testing.T, repo string) *handover {
	t.Helper()
	h := &handover{ctx: context.Background(), env: newSignEnv(t, repo)}
	h.admin = h.env.la
	h.bob = startLiveAgent(t)
	h.bobOpts = Options{ConfigDir: trusttest.NewDockerConfig(t, h.env.n).Dir, Server: h.env.n.URL}
	addSigner(t, h.admin, h.env.opts, "alice", h.env.img.Repo)
	if err := Sign(h.ctx, SignOptions{Options: h.env.opts, Out: io.Discard, Agent: h.admin.client(), Refs: []string{h.env.img.Ref}}); err != nil {
		t.Fatalf("alice signs v1: %v", err)
	}
	k, pub := generatePub(t, h.bob.client(), "bob")
	h.bobKey = k
	if err := SignerAdd(h.ctx, SignerAddOptions{Options: h.env.opts, Out: io.Discard, Agent: h.admin.client(), Name: "bob", KeyFiles: []string{pub}, Repos: []string{h.env.img.Repo}}); err != nil {
		t.Fatalf("signer add bob: %v", err)
	}
	return h
}

func (h *handover) bobSigns(t *testing.T, img trusttest.Image) error {
	t.Helper()
	return Sign(h.ctx, SignOptions{Options: h.bobOpts, Out: io.Discard, Agent: h.bob.client(), Refs: []string{img.Ref}})
}

// releasedBy is the key IDs that sign targets/releases, as the notary CLI
// (an independent reader) sees them, and whether it lists tag.
func releases(t *testing.T, dc *trusttest.DockerConfig, repo string) string {
	t.Helper()
	return dc.MustNotaryCLI(t, "list", repo, "--roles", releasesRole.String())
}

// TestSignNewSignerResignsReleases attacks the story: bob signs a
// tag alice had already released (same digest, so targets/releases does not
// change), then alice is removed. Before the fix releases.json stayed signed
// by alice only, and every later sign failed with "trust server rejected
// operation".
func TestSignNewSignerResignsReleases(t *testing.T) {
	h := newHandover(t, "handover/app")
	img := h.env.img
	if err := h.bobSigns(t, img); err != nil {
		t.Fatalf("bob signs v1: %v", err)
	}
	var out bytes.Buffer
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	if err := SignerRemove(h.ctx, SignerRemoveOptions{Options: h.env.opts, Agent: h.admin.client(), Name: "alice", Repo: img.Repo, Confirm: never, Out: &out}); err != nil {
		t.Fatalf("signer remove alice: %v\n%s", err, out.String())
	}
	v2 := h.env.reg.PushRandom(t, "handover/app", "v2")
	if err := h.bobSigns(t, v2); err != nil {
		t.Fatalf("bob signs v2 after alice left: %v (hint: %s)", err, Hint(err))
	}
	list := releases(t, h.env.dc, img.Repo)
	if !strings.Contains(list, img.Hex) || !strings.Contains(list, v2.Hex) {
		t.Fatalf("notary list --roles targets/releases:\n%s", list)
	}
	h.env.dc.MustDocker(t, "trust", "inspect", img.Repo)
	for _, ref := range []string{img.Ref, v2.Ref} {
		if _, err := Verify(h.ctx, VerifyOptions{Options: h.env.opts, Ref: ref}); err != nil {
			t.Fatalf("verify %s: %v", ref, err)
		}
	}
}

// TestSignerRemoveWitnessesReleases: alice signed the last release and bob
// has not signed yet; removing alice re-signs targets/releases with bob's
// key where the agent holds it, without docker's "unpullable" question,
// and bob can sign next.
func TestSignerRemoveWitnessesReleases(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "witness/remove")
	la, img, opts := env.la, env.img, env.opts
	addSigner(t, la, opts, "alice", img.Repo)
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatal(err)
	}
	addSigner(t, la, opts, "bob", img.Repo)
	var out bytes.Buffer
	// Asked first: bob's key will vouch for alice's tags from now on.
	var asked string
	no := func(p string) bool { asked = p; return false }
	if err := SignerRemove(ctx, SignerRemoveOptions{Options: opts, Agent: la.client(), Name: "alice", Repo: img.Repo, Confirm: no, Out: &out}); err != nil {
		t.Fatalf("signer remove alice: %v\n%s", err, out.String())
	}
	for _, want := range []string{"targets/releases will be re-signed with the keys it keeps", "its tags (" + img.Tag + ")", "compromised", "trust-agent revoke"} {
		if !strings.Contains(asked, want) {
			t.Fatalf("asked %q, want it to say %q", asked, want)
		}
	}
	if !strings.HasSuffix(out.String(), "\nAborting action.\n") {
		t.Fatalf("after no: %q", out.String())
	}
	out.Reset()
	if err := SignerRemove(ctx, SignerRemoveOptions{Options: opts, Agent: la.client(), Name: "alice", Repo: img.Repo, Force: true, Out: &out}); err != nil {
		t.Fatalf("signer remove -f alice: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Re-signing targets/releases") || !strings.Contains(out.String(), "Successfully removed alice from "+img.Repo) ||
		!strings.Contains(out.String(), "vouching for:\n  "+img.Tag+"\tsha256:"+img.Hex+"\n") {
		t.Fatalf("output:\n%s", out.String())
	}
	if _, err := Verify(ctx, VerifyOptions{Options: opts, Ref: img.Ref}); err != nil {
		t.Fatalf("v1 after alice left: %v", err)
	}
	v2 := env.reg.PushRandom(t, "witness/remove", "v2")
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{v2.Ref}}); err != nil {
		t.Fatalf("bob signs v2: %v (hint: %s)", err, Hint(err))
	}
	if list := releases(t, env.dc, img.Repo); !strings.Contains(list, img.Hex) || !strings.Contains(list, v2.Hex) {
		t.Fatalf("notary list --roles targets/releases:\n%s", list)
	}
}

// TestSignerWitnessRepairs: a repository left with targets/releases signed
// only by a removed key (the admin's agent cannot re-sign it: bob's key is
// on bob's machine) is refused by sign with an error that says what
// happened and names signer witness; bob's witness repairs it, listing the
// tags he now vouches for, and bob signs again.
func TestSignerWitnessRepairs(t *testing.T) {
	h := newHandover(t, "broken/app")
	img := h.env.img
	var out bytes.Buffer
	var asked string
	yes := func(p string) bool { asked = p; return true }
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	if err := SignerRemove(h.ctx, SignerRemoveOptions{Options: h.env.opts, Agent: h.admin.client(), Name: "alice", Repo: img.Repo, Confirm: yes, Out: &out}); err != nil {
		t.Fatalf("signer remove alice: %v\n%s", err, out.String())
	}
	if !strings.Contains(asked, "will make "+img.Repo+" unpullable") {
		t.Fatalf("asked %q, want docker's question", asked)
	}
	if want := "repairs it with: trust-agent signer witness " + img.Repo + " targets/releases"; !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}

	v2 := h.env.reg.PushRandom(t, "broken/app", "v2")
	err := h.bobSigns(t, v2)
	t.Logf("%v\nhint: %s", err, Hint(err))
	if !errors.Is(err, ErrWitnessNeeded) || !strings.Contains(Hint(err), "trust-agent signer witness "+img.Repo+" targets/releases") {
		t.Fatalf("sign into broken releases: %v (hint %q), want ErrWitnessNeeded naming signer witness", err, Hint(err))
	}

	// The admin's agent holds no key releases lists.
	err = SignerWitness(h.ctx, WitnessOptions{Options: h.env.opts, Agent: h.admin.client(), Repo: img.Repo, Roles: []string{"releases"}, Confirm: never, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "the agent holds 0 of the keys") {
		t.Fatalf("witness without a key: %v", err)
	}
	out.Reset()
	if err := SignerWitness(h.ctx, WitnessOptions{Options: h.env.opts, Agent: h.admin.client(), Repo: img.Repo, Confirm: never, Out: &out}); err != nil {
		t.Fatalf("witness by the admin: %v", err)
	}
	if want := "Needing a witness by another signer: targets/releases (a holder of " + h.bobKey.ID + ")"; !strings.Contains(out.String(), want) {
		t.Fatalf("witness by the admin: %q, want %q", out.String(), want)
	}
	// Nobody vouches for what is in releases now: bob is shown it first.
	out.Reset()
	asked = ""
	no := func(p string) bool { asked = p; return false }
	if err := SignerWitness(h.ctx, WitnessOptions{Options: h.bobOpts, Agent: h.bob.client(), Repo: img.Repo, Confirm: no, Out: &out}); err != nil {
		t.Fatalf("witness, answering no: %v", err)
	}
	if want := "witnessing it makes this agent's keys vouch for its tags:\n  " + img.Tag + "\tsha256:" + img.Hex + "\n"; !strings.Contains(asked, want) || !strings.HasSuffix(out.String(), "Aborting action.\n") {
		t.Fatalf("asked %q, want %q; output %q", asked, want, out.String())
	}
	if err := h.bobSigns(t, v2); !errors.Is(err, ErrWitnessNeeded) {
		t.Fatalf("after a no, sign: %v", err)
	}
	out.Reset()
	if err := SignerWitness(h.ctx, WitnessOptions{Options: h.bobOpts, Agent: h.bob.client(), Repo: img.Repo, Confirm: yes, Out: &out}); err != nil {
		t.Fatalf("witness: %v", err)
	}
	if !strings.Contains(out.String(), "Successfully witnessed targets/releases of "+img.Repo) || !strings.Contains(out.String(), img.Tag+"\tsha256:"+img.Hex) {
		t.Fatalf("witness output:\n%s", out.String())
	}
	out.Reset()
	if err := SignerWitness(h.ctx, WitnessOptions{Options: h.bobOpts, Agent: h.bob.client(), Repo: img.Repo, Confirm: never, Out: &out}); err != nil || !strings.Contains(out.String(), "Nothing to witness") {
		t.Fatalf("second witness: %v\n%s", err, out.String())
	}
	if err := h.bobSigns(t, v2); err != nil {
		t.Fatalf("bob signs v2 after the witness: %v", err)
	}
	if list := releases(t, h.env.dc, img.Repo); !strings.Contains(list, img.Hex) || !strings.Contains(list, v2.Hex) {
		t.Fatalf("notary list --roles targets/releases:\n%s", list)
	}
	if got := h.env.dc.MustDocker(t, "trust", "inspect", "--pretty", img.Repo); !strings.Contains(got, v2.Hex) || !strings.Contains(got, "bob") {
		t.Fatalf("docker trust inspect --pretty:\n%s", got)
	}
	for _, bad := range []string{"carol", "targets"} {
		if err := SignerWitness(h.ctx, WitnessOptions{Options: h.bobOpts, Agent: h.bob.client(), Repo: img.Repo, Roles: []string{bad}, Yes: true, Confirm: never, Out: &out}); err == nil {
			t.Fatalf("witness %s succeeded", bad)
		}
	}
}

// TestSignerRemoveKey: bob has two keys, one on his agent and one on the
// admin's; removing his key takes it out of targets/bob and
// targets/releases, keeps the other, and re-signs both roles (which only
// the removed key signed) with the key left, which the admin's agent holds.
func TestSignerRemoveKey(t *testing.T) {
	h := newHandover(t, "rmkey/app")
	img := h.env.img
	k2, pub2 := generatePub(t, h.admin.client(), "bob")
	if err := SignerAdd(h.ctx, SignerAddOptions{Options: h.env.opts, Out: io.Discard, Agent: h.admin.client(), Name: "bob", KeyFiles: []string{pub2}, Repos: []string{img.Repo}}); err != nil {
		t.Fatal(err)
	}
	// Only bob's first key signs v2 into targets/bob and releases.
	v2 := h.env.reg.PushRandom(t, "rmkey/app", "v2")
	if err := h.bobSigns(t, v2); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }
	for _, c := range []struct{ key, want string }{
		{"abc", "no key abc"},
		{strings.Repeat("0", 64), "has no key"},
	} {
		err := SignerRemoveKey(h.ctx, SignerRemoveOptions{Options: h.env.opts, Agent: h.admin.client(), Name: "bob", Repo: img.Repo, KeyID: c.key, Confirm: never, Out: &out})
		if err == nil || !strings.Contains(err.Error(), c.want) || Hint(err) == "" {
			t.Fatalf("remove key %s: %v (hint %q)", c.key, err, Hint(err))
		}
	}
	out.Reset()
	short := h.bobKey.ID[:12]
	var asked string
	yes := func(p string) bool { asked = p; return true }
	if err := SignerRemoveKey(h.ctx, SignerRemoveOptions{Options: h.env.opts, Agent: h.admin.client(), Name: "bob", Repo: img.Repo, KeyID: short, Confirm: yes, Out: &out}); err != nil {
		t.Fatalf("remove bob's first key: %v\n%s", err, out.String())
	}
	if want := "The key " + short + " signs the current targets/bob and targets/releases of " + img.Repo + "."; !strings.HasPrefix(asked, want) || !strings.Contains(asked, "(v1, v2)") || !strings.Contains(asked, "(v2)") {
		t.Fatalf("asked %q, want %q and the tags", asked, want)
	}
	if !strings.Contains(out.String(), "Successfully removed key "+short+" from bob in "+img.Repo) {
		t.Fatalf("output:\n%s", out.String())
	}
	var bob []string
	for _, s := range h.inspect(t).Signers {
		if s.Name == "bob" {
			for _, k := range s.Keys {
				bob = append(bob, k.ID)
			}
		}
	}
	if len(bob) != 1 || !strings.HasPrefix(k2.ID, bob[0]) {
		t.Fatalf("bob's keys %v, want only %s", bob, k2.ID)
	}
	roles, err := delegationRolesOf(t, h, img.Repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		for _, id := range r.KeyIDs {
			if id == h.bobKey.ID {
				t.Fatalf("%s still lists the removed key", r.Name)
			}
		}
	}
	// Both tags still verify: releases was re-signed by bob's other key.
	for _, ref := range []string{img.Ref, v2.Ref} {
		if _, err := Verify(h.ctx, VerifyOptions{Options: h.env.opts, Ref: ref}); err != nil {
			t.Fatalf("verify %s: %v", ref, err)
		}
	}
	if err := h.bobSigns(t, v2); err == nil {
		t.Fatal("the removed key still signs")
	}
	// The last key of a signer is refused: that is signer remove.
	err = SignerRemoveKey(h.ctx, SignerRemoveOptions{Options: h.env.opts, Agent: h.admin.client(), Name: "bob", Repo: img.Repo, KeyID: k2.ID, Confirm: never, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "only key of signer bob") {
		t.Fatalf("removing the last key: %v", err)
	}
}

// inspect is Inspect's view of the handover repository, checked equal to
// docker's.
func (h *handover) inspect(t *testing.T) Repository {
	t.Helper()
	repos, err := Inspect(h.ctx, InspectOptions{Options: h.env.opts, Refs: []string{h.env.img.Repo}})
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	if err := WriteJSON(&ours, repos); err != nil {
		t.Fatal(err)
	}
	if docker := h.env.dc.MustDocker(t, "trust", "inspect", h.env.img.Repo); docker != ours.String() {
		t.Fatalf("inspect differs\n--- docker:\n%s\n--- ours:\n%s", docker, ours.String())
	}
	return repos[0]
}

func delegationRolesOf(t *testing.T, h *handover, repo string) ([]data.Role, error) {
	t.Helper()
	ref, err := parseRef(repo)
	if err != nil {
		return nil, err
	}
	r, err := openRepo(h.ctx, h.env.opts, ref, nil, actionsPull...)
	if err != nil {
		return nil, err
	}
	return r.GetDelegationRoles()
}

// TestServerRefusalHintsWitness: notary-server's 400, which is what a
// delegation that lost its signers' keys gets, names the repair.
func TestServerRefusalHintsWitness(t *testing.T) {
	err := notaryError("example.com/app", storage.ErrInvalidOperation{})
	var inv storage.ErrInvalidOperation
	if !errors.As(err, &inv) || !strings.Contains(Hint(err), "trust-agent signer witness example.com/app") {
		t.Fatalf("err %v, hint %q", err, Hint(err))
	}
}

func TestRoleArg(t *testing.T) {
	for in, want := range map[string]data.RoleName{
		"releases":         releasesRole,
		"alice":            "targets/alice",
		"targets/alice":    "targets/alice",
		"targets/releases": releasesRole,
	} {
		if got, err := roleArg(in); err != nil || got != want {
			t.Errorf("roleArg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "targets/", "../x", "targets/a/../b"} {
		if got, err := roleArg(bad); err == nil {
			t.Errorf("roleArg(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSignerKey(t *testing.T) {
	a := strings.Repeat("a", 64)
	ab := strings.Repeat("a", 8) + strings.Repeat("b", 56)
	c := strings.Repeat("c", 64)
	two := data.Role{RootRole: data.RootRole{KeyIDs: []string{a, ab}}, Name: "targets/bob"}
	for _, tc := range []struct {
		role      data.Role
		id, want  string
		errSubstr string
	}{
		{two, a, a, ""},
		{two, ab[:9], ab, ""},
		{two, "aaaaaaaa", "", "ambiguous"},
		{two, "aaaa", "", "has no key aaaa"}, // shorter than a prefix may be
		{two, c, "", "has no key"},
		{data.Role{RootRole: data.RootRole{KeyIDs: []string{c}}, Name: "targets/bob"}, c[:12], "", "only key of signer bob"},
	} {
		got, err := signerKey(tc.role, tc.id, "example.com/app")
		if tc.errSubstr == "" && (err != nil || got != tc.want) || tc.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), tc.errSubstr) || Hint(err) == "") {
			t.Errorf("signerKey(%s) = %q, %v (hint %q)", tc.id, got, err, Hint(err))
		}
	}
}

// TestWitnessAfterNotaryDelegationRemove: the state notary's own CLI
// leaves. A repository docker made (its root and repository keys in
// docker's files) has alice (a file key, signing with the notary CLI) and
// bob (a key on the agent); `notary delegation remove REPO targets/releases
// ALICE` and a publish leave releases signed by alice only. trust-agent's
// sign says so and names the repair; after the witness bob signs, and
// docker reads both tags.
func TestWitnessAfterNotaryDelegationRemove(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "notary/left")
	la, img, dc, opts := env.la, env.img, env.dc, env.opts
	dc.AddSigner(t, "alice", img.Repo)
	dc.SignWithNotaryCLI(t, img, "targets/releases", "targets/alice")
	_, pub := generatePub(t, la.client(), "bob")
	dc.MustDocker(t, "trust", "signer", "add", "--key", pub, "bob", img.Repo)
	repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{img.Repo}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range repos[0].Signers {
		if s.Name == "alice" {
			for _, k := range s.Keys {
				dc.MustNotaryCLI(t, "delegation", "remove", img.Repo, releasesRole.String(), k.ID)
			}
		}
	}
	dc.MustNotaryCLI(t, "publish", img.Repo)

	v2 := env.reg.PushRandom(t, "notary/left", "v2")
	err = Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{v2.Ref}})
	t.Logf("%v\nhint: %s", err, Hint(err))
	if !errors.Is(err, ErrWitnessNeeded) || !strings.Contains(Hint(err), "trust-agent signer witness "+img.Repo+" targets/releases") {
		t.Fatalf("sign after alice left releases: %v (hint %q)", err, Hint(err))
	}
	var out bytes.Buffer
	if err := SignerWitness(ctx, WitnessOptions{Options: opts, Agent: la.client(), Repo: img.Repo, Roles: []string{"releases"}, Yes: true, Out: &out}); err != nil {
		t.Fatalf("witness: %v", err)
	}
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{v2.Ref}}); err != nil {
		t.Fatalf("sign after the witness: %v", err)
	}
	got := dc.MustDocker(t, "trust", "inspect", "--pretty", img.Repo)
	for _, want := range []string{img.Hex, v2.Hex} {
		if !strings.Contains(got, want) {
			t.Fatalf("docker trust inspect --pretty lacks %s:\n%s", want, got)
		}
	}
}
