package trust

import (
	"testing"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// fixture is a signed repository made with the real docker and notary CLIs.
type fixture struct {
	notary *trusttest.Notary
	docker *trusttest.DockerConfig
	repo   string // GUN, HOST:PORT/test/app
	split  string // HOST:PORT/test/split, where v5 has different digests in targets and releases
	other  string // a repository on the same registry that has no trust data
	img    map[string]trusttest.Image
}

// newFixture builds a repository with signers alice, bob and carol and tags:
//
//	v1   releases, bob, alice   (docker shows signers bob, alice)
//	v2   targets only           ("Repo Admin")
//	v10  carol, releases        (natural order puts v10 after v2)
//	v3   carol only             (not released: not shown, not trusted)
//
// and, in a second repository (split), v5 signed into targets for one image
// and into releases for another: releases wins. It is apart because docker
// lists the two v5 rows in random order.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	c := trusttest.NewDockerConfig(t, n)
	f := &fixture{notary: n, docker: c, img: map[string]trusttest.Image{}}
	for _, tag := range []string{"v1", "v2", "v10", "v3", "unsigned"} {
		f.img[tag] = reg.PushRandom(t, "test/app", tag)
	}
	for _, tag := range []string{"v5", "v5-other"} {
		f.img[tag] = reg.PushRandom(t, "test/split", tag)
	}
	f.split = f.img["v5"].Repo
	f.repo = f.img["v1"].Repo
	f.other = reg.Host + "/test/nothing"
	c.AddSigner(t, "bob", f.repo)
	c.AddSigner(t, "alice", f.repo)
	c.AddSigner(t, "carol", f.repo)
	c.SignWithNotaryCLI(t, f.img["v1"], "targets/releases", "targets/bob", "targets/alice")
	c.SignWithNotaryCLI(t, f.img["v2"])
	c.SignWithNotaryCLI(t, f.img["v10"], "targets/carol", "targets/releases")
	c.SignWithNotaryCLI(t, f.img["v3"], "targets/carol")
	c.AddSigner(t, "dave", f.split)
	v5 := f.img["v5"]
	other := f.img["v5-other"]
	other.Tag = "v5"
	c.SignWithNotaryCLI(t, other)
	c.SignWithNotaryCLI(t, v5, "targets/releases")
	return f
}

// opts points the package at the fixture explicitly, without the environment.
func (f *fixture) opts() Options {
	return Options{ConfigDir: f.docker.Dir, Server: f.notary.URL}
}
