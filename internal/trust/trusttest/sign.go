package trusttest

import (
	"strconv"
	"strings"
	"testing"
)

// SignWithNotaryCLI signs img's tag into roles (none: targets) with the
// notary CLI and the keys in c's trust directory, and publishes. It stands in
// for `docker trust sign`, which needs an engine to push.
func (c *DockerConfig) SignWithNotaryCLI(t testing.TB, img Image, roles ...string) {
	t.Helper()
	args := []string{"addhash", img.Repo, img.Tag, strconv.FormatInt(img.Size, 10), "--sha256", img.Hex}
	if len(roles) > 0 {
		args = append(args, "--roles", strings.Join(roles, ","))
	}
	c.MustNotaryCLI(t, args...)
	c.MustNotaryCLI(t, "publish", img.Repo)
}

// AddSigner makes a delegation key for signer with `docker trust key
// generate` (the private key lands in the trust directory) and adds it with
// `docker trust signer add`, which initialises the repository when it does
// not exist yet.
func (c *DockerConfig) AddSigner(t testing.TB, signer, repo string) {
	t.Helper()
	dir := t.TempDir()
	c.MustDocker(t, "trust", "key", "generate", signer, "--dir", dir)
	c.MustDocker(t, "trust", "signer", "add", "--key", dir+"/"+signer+".pub", signer, repo)
}
