package main

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
)

// notationCLI returns the notation CLI v1.3.2: $NOTATION_CLI, or built
// from testdata/notation-cli (a module of its own, outside this one's
// dependencies; `go install ...@v1.3.2` fails on its deprecation lookup).
// The Makefile's test-go target downloads its modules before tests run
// offline.
func notationCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NOTATION_CLI"); p != "" {
		return p
	}
	src, err := filepath.Abs("testdata/notation-cli")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "notation")
	build := exec.Command("go", "build", "-o", bin, "github.com/notaryproject/notation/cmd/notation")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the notation CLI (make test-go downloads its modules first): %v\n%s", err, out)
	}
	return bin
}

// TestNotationCLI signs with `notation sign --plugin trust-agent` (JWS and
// COSE, and a repository-bound key with the repository annotation) and
// verifies with `notation verify`, a trust policy and the key's
// certificate in a trust store, against a registry with the referrers API.
func TestNotationCLI(t *testing.T) {
	cli := notationCLI(t)
	f := start(t)
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	repo := host + "/team/app"
	ref, err := name.ParseReference(repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dg, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	artifact := repo + "@" + dg.String()

	cfg := t.TempDir()
	notationDir := filepath.Join(cfg, "notation")
	plugin := filepath.Join(notationDir, "plugins", "trust-agent", "notation-trust-agent")
	b, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(plugin), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, b, 0o700); err != nil {
		t.Fatal(err)
	}
	_, chain := f.key(t, "release", agent.AlgorithmECDSA, 0)
	bound, err := f.keyring.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "bound", GUN: repo}})
	if err != nil {
		t.Fatal(err)
	}
	boundChain, err := f.keyring.CertifyKey(context.Background(), agent.CertifyKeyRequest{KeyID: bound.ID})
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(notationDir, "truststore", "x509", "ca", "trust-agent")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	for n, der := range map[string][]byte{"release.pem": chain[0], "bound.pem": boundChain[0]} {
		if err := os.WriteFile(filepath.Join(store, n), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	policy := `{"version":"1.0","trustPolicies":[{"name":"trust-agent","registryScopes":["*"],
		"signatureVerification":{"level":"strict"},"trustStores":["ca:trust-agent"],"trustedIdentities":["*"]}]}`
	if err := os.WriteFile(filepath.Join(notationDir, "trustpolicy.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"XDG_CONFIG_HOME=" + cfg, "HOME=" + t.TempDir(), "TRUST_AGENT_SOCK=" + f.sock, "PATH=" + os.Getenv("PATH")}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(cli, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	annotation := notation.RepositoryAnnotation + "=" + repo
	for _, c := range []struct {
		name string
		sign []string
	}{
		{"jws", []string{"--id", "release"}},
		{"cose", []string{"--id", "release", "--signature-format", "cose"}},
		{"bound key", []string{"--id", "bound", "--user-metadata", annotation}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.audit.Lines())
			args := append([]string{"sign", "--insecure-registry", "--plugin", "trust-agent"}, c.sign...)
			if out, err := run(append(args, artifact)...); err != nil {
				t.Fatalf("notation sign: %v\n%s", err, out)
			}
			if got := len(f.audit.Lines()) - before; got != 1 {
				t.Fatalf("%d audit lines for one signature", got)
			}
			out, err := run("verify", "--insecure-registry", artifact)
			if err != nil || !strings.Contains(out, "Successfully verified") {
				t.Fatalf("notation verify: %v\n%s", err, out)
			}
		})
	}
	// The bound key without the annotation: notation reports the agent's
	// refusal, and nothing is signed.
	before := len(f.audit.Lines())
	out, err := run("sign", "--insecure-registry", "--plugin", "trust-agent", "--id", "bound", artifact)
	if err == nil || !strings.Contains(out, "does not say the artifact is there") {
		t.Fatalf("a bound key signed without the repository annotation: %v\n%s", err, out)
	}
	if got := len(f.audit.Lines()) - before; got != 1 {
		t.Fatalf("%d audit lines for one refusal", got)
	}
	if out, err := run("verify", "--insecure-registry", "--user-metadata", annotation, artifact); err != nil {
		t.Fatalf("notation verify --user-metadata: %v\n%s", err, out)
	}
}
