package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/attestation"
	"github.com/trust-agent/trust-agent/internal/secretfile"
	"github.com/trust-agent/trust-agent/internal/trust"
)

// keyNameError is docker's message for a bad key name (and ours for a
// long one, without repeating it).
func keyNameError(name string) error {
	if len(name) > agent.MaxNameBytes {
		return fmt.Errorf("key name of %d bytes is too long: a key name has at most %d bytes", len(name), agent.MaxNameBytes)
	}
	return fmt.Errorf(`key name "%s" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`, name)
}

const keyGenerateSynopsis = "key generate NAME [--role delegation|targets|root|notation|cosign] [--repo GUN] [--algorithm ecdsa|rsa] [--bits N] [--dir DIR] [--backend NAME] [--pin-policy P] [--touch-policy P] [--confirm]"

func cmdKeyGenerate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key generate", keyGenerateSynopsis)
	role := fs.String("role", string(agent.RoleDelegation), "the key's role: delegation, targets or root (Docker Content Trust), notation or cosign (a key for that format only)")
	repo := fs.String("repo", "", "the repository a targets key is bound to")
	alg := fs.String("algorithm", agent.AlgorithmECDSA, "ecdsa (P-256) or rsa")
	bits := fs.Int("bits", 0, "key size: ECDSA 256 (default) or 384; RSA 3072 (default) or 4096")
	dir := fs.String("dir", "", "directory to write NAME.pub to (default: the current directory)")
	backend := fs.String("backend", "", "`NAME` of the backend where to make the key, as trust-agent status names it (default: the first unlocked)")
	confirm := fs.Bool("confirm", false, "sign only after a person confirms each use through the agent's TRUST_AGENT_ASKPASS program (as ssh-add -c)")
	copyTo := fs.StringArray("copy-to", nil, "`NAME` of another backend that holds the same key (repeatable; with --backend): the key is made in the agent's memory, written into each, then wiped (root custody)")
	var policy agent.KeyPolicy
	fs.StringVar(&policy.PIN, "pin-policy", "", "PIV only: once or always")
	fs.StringVar(&policy.Touch, "touch-policy", "", "PIV only: never, cached or always (a root key defaults to always)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyGenerateSynopsis)
	}
	name := fs.Arg(0)
	if !agent.ValidName(name) {
		return keyNameError(name)
	}
	pubPath := filepath.Join(*dir, name+".pub")
	if _, err := os.Stat(pubPath); err == nil {
		return fmt.Errorf(`public key file already exists: "%s"`, pubPath)
	}
	attPath := trust.AttestationPath(pubPath)
	if _, err := os.Stat(attPath); err == nil {
		return fmt.Errorf(`attestation file already exists: "%s"`, attPath)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	// Create the public key file before the key, so that a key is never
	// made on hardware that its .pub file cannot be written for.
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fmt.Errorf("failed to write public key to %s: %w", pubPath, err)
		}
	}
	f, err := os.OpenFile(pubPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to write public key to %s: %w", pubPath, err)
	}
	defer f.Close()
	fmt.Fprintf(e.stdout, "Generating key for %s...\n", name)
	info, err := withTouchNotice(c, e.stderr).Generate(ctx, agent.GenerateRequest{
		KeyMeta:   agent.KeyMeta{Role: agent.Role(*role), Name: name, GUN: trust.CanonicalGUN(*repo), Confirm: *confirm},
		Algorithm: *alg, Bits: *bits, Backend: *backend, Policy: policy, Copies: *copyTo,
	})
	if err != nil {
		f.Close()
		os.Remove(pubPath)
		return fmt.Errorf("failed to generate key for %s: %w", name, err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"role": name}, Bytes: info.PublicKey})
	if _, err := f.Write(p); err != nil {
		return fmt.Errorf("failed to write public key to %s: %w", pubPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write public key to %s: %w", pubPath, err)
	}
	fmt.Fprintf(e.stdout, "Successfully generated and loaded private key. Corresponding public key available: %s\n", pubPath)
	if len(*copyTo) > 0 {
		fmt.Fprintf(e.stdout, "The key is held on %s and %s; it was made in the agent's memory and wiped once written.\n", info.Backend, strings.Join(*copyTo, ", "))
	}
	// A key made on a PIV card comes with the card's proof of it, for
	// `signer add --require-attestation`.
	if attestation.Attestable(info) {
		if err := attestation.Write(ctx, c, info, attPath); err != nil {
			return fmt.Errorf("the key was generated and %s written, but writing its attestation to %s failed: %w", pubPath, attPath, err)
		}
		fmt.Fprintf(e.stdout, "Attestation certificate chain (the card's proof that it made the key) available: %s\n", attPath)
	}
	return nil
}

const keyLoadSynopsis = "key load FILE [--name NAME] [--role delegation|targets|root] [--repo GUN] [--backend NAME] [--passphrase-file FILE] [--confirm]"

func cmdKeyLoad(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key load", keyLoadSynopsis)
	name := fs.String("name", "signer", "name for the loaded key")
	role := fs.String("role", "", "the key's role (default: the file's role header if root or targets, else delegation)")
	repo := fs.String("repo", "", "the repository a targets key is bound to (default: the file's gun header)")
	backend := fs.String("backend", "", "`NAME` of the backend where to put the key, as trust-agent status names it")
	passFile := fs.String("passphrase-file", "", "read the key file's passphrase from `FILE` (mode 0600) instead of $DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE / $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE or the terminal")
	confirm := fs.Bool("confirm", false, "sign only after a person confirms each use through the agent's TRUST_AGENT_ASKPASS program (as ssh-add -c)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(keyLoadSynopsis)
	}
	path := fs.Arg(0)
	if !agent.ValidName(*name) {
		return keyNameError(*name)
	}
	fmt.Fprintf(e.stdout, "Loading key from \"%s\"...\n", path)
	pemBytes, err := readPrivateKeyFile(path)
	if err != nil {
		return fmt.Errorf("refusing to load key from %s: %w", path, err)
	}
	defer clear(pemBytes)
	kf, err := trust.ParseKeyFile(pemBytes, passphraseFor(path, *passFile))
	if err != nil {
		return fmt.Errorf("error importing key from %s: %w", path, err)
	}
	defer clear(kf.PKCS8)
	meta := agent.KeyMeta{Role: agent.RoleDelegation, Name: *name, Confirm: *confirm}
	switch {
	case *role != "":
		meta.Role = agent.Role(*role)
	case kf.Role == string(agent.RoleRoot) || kf.Role == string(agent.RoleTargets) || kf.Role == string(agent.RoleSnapshot):
		meta.Role = agent.Role(kf.Role)
	}
	if meta.Role == agent.RoleTargets || meta.Role == agent.RoleSnapshot {
		meta.GUN = trust.CanonicalGUN(*repo)
		if meta.GUN == "" {
			meta.GUN = kf.GUN
		}
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	if held, err := heldKey(ctx, c, kf.PKCS8); err != nil {
		return err
	} else if held != nil {
		return fmt.Errorf("refusing to load key from %s: the agent already holds it (ID %s, %s %s on %s)", path, held.ID, held.Role, held.Name, held.Backend)
	}
	info, err := c.Import(ctx, agent.ImportRequest{KeyMeta: meta, PKCS8: kf.PKCS8, Backend: *backend})
	if err != nil {
		return fmt.Errorf("error importing key from %s: %w", path, err)
	}
	if info.Abilities.Attest { // a backend that attests the keys it makes
		fmt.Fprintf(e.stderr, "Note: this key existed outside hardware before it was put on %s; the card cannot attest it.\n", info.Backend)
	}
	fmt.Fprintln(e.stdout, "Successfully imported key from", path)
	// The agent holds the key in hardware now; the file still holds it in
	// software, where the hardware cannot protect it.
	fmt.Fprintf(e.stderr, "Note: %s still holds the private key. Keep a backup offline if you need one, then remove the file: shred -u %s (or rm it once you have checked that the backup is offline)\n", path, path)
	return nil
}

// readPrivateKeyFile refuses a key file others can read or write, as docker does.
func readPrivateKeyFile(path string) ([]byte, error) {
	b, err := secretfile.ReadOptions(path, secretfile.Options{What: "private key", Max: maxKeyFileBytes, Raw: true})
	var se *secretfile.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case secretfile.Mode:
			return nil, fmt.Errorf("private key file %s must not be readable or writable by others", path)
		case secretfile.Open:
			return nil, se.Err
		}
	}
	return b, err
}

// maxKeyFileBytes caps a private key file: a PEM key is a few kilobytes.
const maxKeyFileBytes = 1 << 20

const keyListSynopsis = "key list [--json] [--attest [--attestation-roots FILE]]"

func cmdKeyList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key list", keyListSynopsis)
	asJSON := fs.Bool("json", false, "print JSON")
	attest := fs.Bool("attest", false, "verify each PIV key's attestation: an ATTESTED column (JSON: \"attestation\")")
	rootsFile := fs.String("attestation-roots", "", "PEM file of the CAs to verify attestations with, instead of Yubico's (implies --attest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(keyListSynopsis)
	}
	*attest = *attest || *rootsFile != ""
	roots, err := loadAttestationRoots(*rootsFile)
	if err != nil {
		return err
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	keys, err := c.List(ctx)
	if err != nil {
		return err
	}
	if *attest {
		return listAttested(ctx, e, c, keys, roots, *asJSON)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if keys == nil {
			keys = []agent.KeyInfo{}
		}
		return enc.Encode(keys)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tREPOSITORY\tALGORITHM\tLOCATION")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, roleColumn(k), repoColumn(k), k.Algorithm, k.Location)
	}
	return tw.Flush()
}

// repoColumn is key list's REPOSITORY: the repository a key is bound to;
// for a root key, the repositories it certified; "-" for none.
func repoColumn(k agent.KeyInfo) string {
	repo := k.GUN
	if k.Role == agent.RoleRoot {
		var guns []string
		for _, c := range k.Certs {
			guns = append(guns, c.GUN)
		}
		repo = strings.Join(guns, ",")
	}
	if repo == "" {
		return "-"
	}
	return repo
}

// listAttested is key list --attest: the keys with their attestations.
func listAttested(ctx context.Context, e *env, a agent.Agent, keys []agent.KeyInfo, roots *x509.CertPool, asJSON bool) error {
	type entry struct {
		agent.KeyInfo
		Attestation *attestation.KeyStatus `json:"attestation,omitempty"`
	}
	out := make([]entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, entry{KeyInfo: k, Attestation: attestation.Check(ctx, a, k, roots)})
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tREPOSITORY\tALGORITHM\tLOCATION\tATTESTED")
	for _, k := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, roleColumn(k.KeyInfo), repoColumn(k.KeyInfo), k.Algorithm, k.Location, k.Attestation.Column())
	}
	return tw.Flush()
}

// roleColumn is the ROLE column of key list: the role, and ",confirm" for
// a key that signs only after a person confirms each use.
func roleColumn(k agent.KeyInfo) string {
	if k.Confirm {
		return string(k.Role) + ",confirm"
	}
	return string(k.Role)
}
