package trust

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func signedTags(r Repository) []string {
	var tags []string
	for _, s := range r.SignedTags {
		tags = append(tags, s.SignedTag)
	}
	return tags
}

func TestRevoke(t *testing.T) {
	f := newAdminRepo(t, "admin/revoke", "v1", "v2", "v3")
	if got := strings.Join(signedTags(f.inspect(t)), ","); got != "v1,v2,v3" {
		t.Fatalf("signed tags %s, want v1,v2,v3", got)
	}
	never := func(p string) bool { t.Fatalf("asked %q", p); return false }

	// One tag: from targets/releases and targets/alice, in one publish.
	var out bytes.Buffer
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.repo + ":v1", Confirm: never, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "Successfully deleted signature for " + f.repo + ":v1\n"; out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	if got := strings.Join(signedTags(f.inspect(t)), ","); got != "v2,v3" {
		t.Fatalf("signed tags %s after revoking v1, want v2,v3", got)
	}
	// An unsigned tag is an error naming it.
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.repo + ":v1", Confirm: never, Out: &out}); err == nil || !strings.Contains(err.Error(), "could not remove signature for "+f.repo+":v1") {
		t.Fatalf("revoking v1 again: %v", err)
	}

	// Every tag: asked first; "no" keeps them.
	out.Reset()
	var asked string
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.repo, Confirm: func(p string) bool { asked = p; return false }, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "Please confirm you would like to delete all signature data for " + f.repo + "? [y/N] "; asked != want {
		t.Fatalf("prompt %q, want %q", asked, want)
	}
	if out.String() != "\nAborting action.\n" {
		t.Fatalf("output %q", out.String())
	}
	if got := strings.Join(signedTags(f.inspect(t)), ","); got != "v2,v3" {
		t.Fatalf("signed tags %s after refusing, want v2,v3", got)
	}
	out.Reset()
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.repo, Confirm: func(string) bool { return true }, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "Successfully deleted all signature data for " + f.repo + "\n"; out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	if r := f.inspect(t); len(r.SignedTags) != 0 {
		t.Fatalf("signed tags %+v after revoking all, want none", r.SignedTags)
	}
	if got := strings.Join(signerNames(f.inspect(t)), ","); got != "alice" {
		t.Fatalf("signers %s, want alice kept", got)
	}
	// Nothing left: docker's error.
	if err := Revoke(f.ctx, RevokeOptions{Options: f.opts, Agent: f.a, Repo: f.repo, Yes: true, Confirm: never, Out: &out}); err == nil || !strings.Contains(err.Error(), "no signed tags to remove") {
		t.Fatalf("revoking an empty repository: %v", err)
	}
}

// TestRevokeRefusesWhatStaysTrusted: a tag the admin signed into targets
// and a delegate into targets/releases cannot be revoked by the delegate
// alone: docker would still trust it from targets. Nothing is published.
func TestRevokeRefusesWhatStaysTrusted(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "revoke/both")
	la, img, dc, opts := env.la, env.img, env.dc, env.opts
	dc.AddSigner(t, "bob", img.Repo) // docker holds root and targets keys
	_, pub := generatePub(t, la.client(), "alice")
	dc.MustDocker(t, "trust", "signer", "add", "--key", pub, "alice", img.Repo)
	dc.SignWithNotaryCLI(t, img) // targets, by the admin
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := Revoke(ctx, RevokeOptions{Options: opts, Agent: la.client(), Repo: img.Ref, Yes: true, Out: &out})
	t.Logf("%v; hint: %s", err, Hint(err))
	if err == nil || !strings.Contains(err.Error(), "v1 is also signed in targets") || !strings.Contains(Hint(err), "must revoke it") {
		t.Fatalf("err = %v, hint %q; output %q", err, Hint(err), out.String())
	}
	if strings.Contains(out.String(), "Successfully") {
		t.Fatalf("output %q", out.String())
	}
	list := dc.MustNotaryCLI(t, "list", img.Repo, "--roles", "targets/releases")
	if !strings.Contains(list, img.Hex) {
		t.Fatalf("the tag left targets/releases although the revocation failed:\n%s", list)
	}
}
