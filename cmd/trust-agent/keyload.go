package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
)

// passphraseFor returns how key load gets an encrypted key file's
// passphrase: from passFile when given, else from docker's variables (the
// root one for a root key, as docker reads them), else the terminal.
func passphraseFor(path, passFile string) func(role string) ([]byte, error) {
	return func(role string) ([]byte, error) {
		if passFile != "" {
			return readSecretFile(passFile, "passphrase")
		}
		env := "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
		if role == string(agent.RoleRoot) {
			env = "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
		}
		if p := os.Getenv(env); p != "" {
			return []byte(p), nil
		}
		return promptSecret(fmt.Sprintf("Enter passphrase for encrypted key %s: ", path), "--passphrase-file, or $"+env)
	}
}

// heldKey returns the agent's key with the same public key as the PKCS#8
// private key, if the agent holds it already: loading it again would make
// a second object for one key.
func heldKey(ctx context.Context, a agent.Agent, pkcs8 []byte) (*agent.KeyInfo, error) {
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("the key is not PKCS#8: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T keys are not supported", priv)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	keys, err := a.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if bytes.Equal(keys[i].PublicKey, pub) {
			return &keys[i], nil
		}
	}
	return nil, nil
}

// dockerTrustDir is where docker trust keeps private keys.
func dockerTrustDir() string {
	cfg := os.Getenv("DOCKER_CONFIG")
	if cfg == "" {
		home, _ := os.UserHomeDir()
		cfg = filepath.Join(home, ".docker")
	}
	return filepath.Join(cfg, "trust", "private")
}

// dockerKeyMeta is what a docker trust key file's PEM headers say the key
// is: docker writes "role: root", "role: targets" with "gun: REPO",
// "role: snapshot" with a gun, and "role: NAME" for a signer's key.
func dockerKeyMeta(role, gun string) (agent.KeyMeta, error) {
	switch role {
	case string(agent.RoleRoot):
		return agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, nil
	case string(agent.RoleTargets), string(agent.RoleSnapshot):
		if gun == "" {
			return agent.KeyMeta{}, fmt.Errorf("a %s key file without a gun header: load it with key load --repo REPO", role)
		}
		return agent.KeyMeta{Role: agent.Role(role), Name: role, GUN: trust.CanonicalGUN(gun)}, nil
	case "timestamp":
		return agent.KeyMeta{}, errors.New("a timestamp key: the notary server holds timestamp keys; it is not loaded")
	}
	name := strings.TrimPrefix(role, "targets/")
	if !agent.ValidName(name) {
		return agent.KeyMeta{}, fmt.Errorf("role header %q is not a signer name; load it with key load --name NAME", role)
	}
	return agent.KeyMeta{Role: agent.RoleDelegation, Name: name}, nil
}

const keyLoadDockerSynopsis = "key load-docker [DIR] [--passphrase-file FILE] [--backend NAME]"

// cmdKeyLoadDocker loads every key docker trust keeps in DIR (default
// $DOCKER_CONFIG/trust/private) with its role and repository, then says
// which files still hold private keys.
func cmdKeyLoadDocker(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key load-docker", keyLoadDockerSynopsis)
	backend := fs.String("backend", "", "`NAME` of the backend where to put the keys, as trust-agent status names it")
	passFile := fs.String("passphrase-file", "", "read the passphrase of every encrypted key from `FILE` (mode 0600) instead of docker's variables or the terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError(keyLoadDockerSynopsis)
	}
	dir := dockerTrustDir()
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no docker trust key files (*.key) in %s; name the directory: trust-agent key load-docker DIR", dir)
	}
	sort.Strings(files)
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	var loaded, failed int
	for _, path := range files {
		what, err := loadDockerKey(ctx, c, path, *passFile, *backend)
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "%s: not loaded: %v\n", path, err)
			continue
		}
		if what != "" {
			fmt.Fprintf(e.stdout, "%s: %s\n", path, what)
		}
		loaded++
	}
	fmt.Fprintf(e.stdout, "\nLoaded %d of %d key files from %s.\n", loaded, len(files), dir)
	fmt.Fprintln(e.stdout, "These files still hold private keys:")
	for _, f := range files {
		fmt.Fprintf(e.stdout, "  %s\n", f)
	}
	fmt.Fprintln(e.stdout, "Keep an offline backup of the root key, then remove them: shred -u FILE...")
	if failed > 0 {
		return fmt.Errorf("%d of %d key files were not loaded (above)", failed, len(files))
	}
	return nil
}

// loadDockerKey loads one docker key file, or says why it is skipped.
func loadDockerKey(ctx context.Context, c agent.Agent, path, passFile, backend string) (string, error) {
	pemBytes, err := readPrivateKeyFile(path)
	if err != nil {
		return "", err
	}
	defer clear(pemBytes)
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", errors.New("no PEM private key in the file")
	}
	meta, err := dockerKeyMeta(block.Headers["role"], block.Headers["gun"])
	if err != nil {
		return "", err
	}
	kf, err := trust.ParseKeyFile(pemBytes, passphraseFor(path, passFile))
	if err != nil {
		return "", err
	}
	defer clear(kf.PKCS8)
	if held, err := heldKey(ctx, c, kf.PKCS8); err != nil {
		return "", err
	} else if held != nil {
		return fmt.Sprintf("already on the agent (ID %s, %s %s on %s); skipped", held.ID, held.Role, held.Name, held.Backend), nil
	}
	info, err := c.Import(ctx, agent.ImportRequest{KeyMeta: meta, PKCS8: kf.PKCS8, Backend: backend})
	if err != nil {
		return "", err
	}
	where := ""
	if info.GUN != "" {
		where = " for " + info.GUN
	}
	return fmt.Sprintf("loaded %s key %s%s as %s on %s", info.Role, info.ID, where, info.Name, info.Backend), nil
}
