package trusttest_test

import (
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

func TestStack(t *testing.T) {
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	img := reg.PushRandom(t, "test/app", "v1")
	if !strings.HasPrefix(img.Digest, "sha256:") || img.Size == 0 {
		t.Fatalf("pushed %+v", img)
	}
	c := trusttest.NewDockerConfig(t, n)
	c.AddSigner(t, "alice", img.Repo)
	c.SignWithNotaryCLI(t, img, "targets/releases")
	out := c.MustDocker(t, "trust", "inspect", img.Repo)
	if !strings.Contains(out, img.Hex) {
		t.Fatalf("docker trust inspect does not show %s:\n%s", img.Hex, out)
	}
	t.Log(out)
	t.Log(c.MustDocker(t, "trust", "inspect", "--pretty", img.Repo))
}
