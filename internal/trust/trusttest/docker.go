package trusttest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test passphrases for the docker and notary file keystores.
const (
	RootPassphrase       = "trusttest-root-passphrase"
	RepositoryPassphrase = "trusttest-repository-passphrase"
)

// cliTimeout bounds one run of docker or notary.
const cliTimeout = 60 * time.Second

// DockerConfig is a fresh docker configuration directory bound to a notary
// server: the trust directory under it and the server's CA at
// tls/<host:port>/ca.crt, where docker (and the trust package) read it.
type DockerConfig struct {
	Dir      string // DOCKER_CONFIG
	TrustDir string // Dir/trust, docker's trust directory
	Home     string // HOME for the programs run, so nothing reads the real one
	Notary   *Notary
}

// NewDockerConfig makes a DockerConfig in a temporary directory.
func NewDockerConfig(t testing.TB, n *Notary) *DockerConfig {
	t.Helper()
	root := t.TempDir()
	c := &DockerConfig{
		Dir:      filepath.Join(root, "docker"),
		TrustDir: filepath.Join(root, "docker", "trust"),
		Home:     filepath.Join(root, "home"),
		Notary:   n,
	}
	writeFile(t, filepath.Join(c.Dir, "config.json"), []byte("{}\n"), 0o600)
	writeFile(t, filepath.Join(c.Dir, "tls", n.Addr, "ca.crt"), n.CAPEM, 0o644)
	if err := os.MkdirAll(c.Home, 0o700); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return c
}

// Env returns the process environment with the variables docker and notary
// read replaced: DOCKER_CONFIG, DOCKER_CONTENT_TRUST_SERVER, HOME and the
// passphrases of both clients.
func (c *DockerConfig) Env() []string {
	set := map[string]string{
		"HOME":                                       c.Home,
		"DOCKER_CONFIG":                              c.Dir,
		"DOCKER_CONTENT_TRUST_SERVER":                c.Notary.URL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE":       RootPassphrase,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": RepositoryPassphrase,
		"NOTARY_ROOT_PASSPHRASE":                     RootPassphrase,
		"NOTARY_TARGETS_PASSPHRASE":                  RepositoryPassphrase,
		"NOTARY_SNAPSHOT_PASSPHRASE":                 RepositoryPassphrase,
		"NOTARY_DELEGATION_PASSPHRASE":               RepositoryPassphrase,
		// No engine is needed; make sure none is contacted by accident.
		"DOCKER_HOST": "unix://" + filepath.Join(c.Home, "no-docker.sock"),
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || strings.HasPrefix(k, "DOCKER_") || strings.HasPrefix(k, "NOTARY_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// Setenv points the current test process at this configuration with
// t.Setenv (so the test must not be parallel): DOCKER_CONFIG,
// DOCKER_CONTENT_TRUST_SERVER and HOME.
func (c *DockerConfig) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("HOME", c.Home)
	t.Setenv("DOCKER_CONFIG", c.Dir)
	t.Setenv("DOCKER_CONTENT_TRUST_SERVER", c.Notary.URL)
}

// Result is the outcome of one program run.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Docker runs the docker CLI with this configuration.
func (c *DockerConfig) Docker(t testing.TB, args ...string) Result {
	t.Helper()
	return c.run(t, RequireProgram(t, DockerProgram), args...)
}

// MustDocker runs the docker CLI and fails the test if it fails.
func (c *DockerConfig) MustDocker(t testing.TB, args ...string) string {
	t.Helper()
	r := c.Docker(t, args...)
	if r.Err != nil {
		t.Fatalf("docker %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// NotaryCLI runs the notary CLI against the server and this trust directory
// (docker's and the notary CLI's layouts are the same).
func (c *DockerConfig) NotaryCLI(t testing.TB, args ...string) Result {
	t.Helper()
	full := append([]string{"-s", c.Notary.URL, "-d", c.TrustDir, "--tlscacert", c.Notary.CAFile}, args...)
	return c.run(t, RequireProgram(t, NotaryProgram), full...)
}

// MustNotaryCLI runs the notary CLI and fails the test if it fails.
func (c *DockerConfig) MustNotaryCLI(t testing.TB, args ...string) string {
	t.Helper()
	r := c.NotaryCLI(t, args...)
	if r.Err != nil {
		t.Fatalf("notary %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func (c *DockerConfig) run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = c.Env()
	cmd.Dir = c.Home
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}
