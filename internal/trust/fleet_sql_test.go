package trust

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// TestSQLNotaryTwoAgents: a Notary as a fleet runs it (notary-server and
// notary-signer on PostgreSQL, over mutual TLS). Two machines, each with its
// own agent on its own token and its own docker configuration, publish into
// the same repository: alice's machine made it, bob's key was added by
// alice's machine, both sign v1. Server, signer and database are restarted;
// nothing is lost: both signatures are still there, docker shows the same,
// and bob signs v2, for which the server signs a new timestamp and snapshot
// with the keys notary-signer kept in the database.
func TestSQLNotaryTwoAgents(t *testing.T) {
	ctx := context.Background()
	n := trusttest.StartSQLNotary(t)
	reg := trusttest.StartRegistry(t)
	v1 := reg.PushRandom(t, "fleet/sql", "v1")
	v2 := reg.PushRandom(t, "fleet/sql", "v2")

	a, b := startLiveAgent(t), startLiveAgent(t)
	dcA, dcB := trusttest.NewDockerConfig(t, n.Notary), trusttest.NewDockerConfig(t, n.Notary)
	optsA := Options{ConfigDir: dcA.Dir, Server: n.URL}
	optsB := Options{ConfigDir: dcB.Dir, Server: n.URL}

	addSigner(t, a, optsA, "alice", v1.Repo)
	_, bobPub := generatePub(t, b.client(), "bob")
	if err := SignerAdd(ctx, SignerAddOptions{Options: optsA, Out: io.Discard, Agent: a.client(), Name: "bob", KeyFiles: []string{bobPub}, Repos: []string{v1.Repo}}); err != nil {
		t.Fatalf("alice's machine adds bob: %v", err)
	}
	if err := Sign(ctx, SignOptions{Options: optsA, Out: io.Discard, Agent: a.client(), Refs: []string{v1.Ref}}); err != nil {
		t.Fatalf("alice signs v1: %v", err)
	}
	if err := Sign(ctx, SignOptions{Options: optsB, Out: io.Discard, Agent: b.client(), Refs: []string{v1.Ref}}); err != nil {
		t.Fatalf("bob signs v1: %v", err)
	}

	// signedBy reads the repository as a fresh client would and returns
	// tag -> signers, after checking that docker shows exactly the same.
	signedBy := func(when string) map[string][]string {
		t.Helper()
		opts := Options{ConfigDir: trusttest.NewDockerConfig(t, n.Notary).Dir, Server: n.URL}
		repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{v1.Repo}})
		if err != nil {
			t.Fatalf("%s: inspect: %v", when, err)
		}
		var ours bytes.Buffer
		WriteJSON(&ours, repos)
		if docker := dcB.MustDocker(t, "trust", "inspect", v1.Repo); docker != ours.String() {
			t.Fatalf("%s: inspect differs from docker's\n--- docker:\n%s\n--- ours:\n%s", when, docker, ours.String())
		}
		got := map[string][]string{}
		for _, st := range repos[0].SignedTags {
			got[st.SignedTag] = st.Signers
		}
		var names []string
		for _, s := range repos[0].Signers {
			names = append(names, s.Name)
		}
		if !slices.Contains(names, "alice") || !slices.Contains(names, "bob") {
			t.Fatalf("%s: signers %v, want alice and bob", when, names)
		}
		return got
	}
	want := func(got map[string][]string, tag string, signers ...string) {
		t.Helper()
		for _, s := range signers {
			if !slices.Contains(got[tag], s) {
				t.Fatalf("%s is signed by %v, want %v", tag, got[tag], signers)
			}
		}
	}
	want(signedBy("before the restart"), "v1", "alice", "bob")

	n.Restart(t)
	got := signedBy("after the restart")
	want(got, "v1", "alice", "bob")
	if _, ok := got["v2"]; ok {
		t.Fatalf("v2 signed before anyone signed it: %v", got)
	}

	if err := Sign(ctx, SignOptions{Options: optsB, Out: io.Discard, Agent: b.client(), Refs: []string{v2.Ref}}); err != nil {
		t.Fatalf("bob signs v2 after the restart: %v", err)
	}
	got = signedBy("after signing v2")
	want(got, "v1", "alice", "bob")
	want(got, "v2", "bob")

	// The data is in PostgreSQL: TUF files in the server's database, the
	// server-managed timestamp and snapshot keys (encrypted) in the signer's.
	if out := n.DB.Psql(t, "server", "notaryserver", "-A", "-t", "-c",
		"SELECT count(DISTINCT role) FROM tuf_files WHERE gun = '"+v1.Repo+"'"); strings.TrimSpace(out) != "7" {
		t.Fatalf("roles of %s in notaryserver.tuf_files: %s, want 7 (root, targets, snapshot, timestamp, targets/releases, targets/alice, targets/bob)", v1.Repo, out)
	}
	if out := n.DB.Psql(t, "signer", "notarysigner", "-A", "-t", "-c",
		"SELECT string_agg(role, ',' ORDER BY role) FROM private_keys WHERE gun = '"+v1.Repo+"'"); strings.TrimSpace(out) != "snapshot,timestamp" {
		t.Fatalf("keys of %s in notarysigner.private_keys: %q, want snapshot,timestamp", v1.Repo, out)
	}
}
