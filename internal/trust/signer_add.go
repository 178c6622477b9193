package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trust-agent/trust-agent/agent"
)

// SignerAddOptions configure SignerAdd.
type SignerAddOptions struct {
	Options
	// RootKeyID picks the agent's root key for a repository that has no
	// trust data yet; empty means the only one, or a new one.
	RootKeyID string
	// Out gets docker's progress messages; Err each repository's error, as
	// docker prints them on stderr (nil: Out, as before Err existed).
	Out, Err io.Writer
	// VerifyAttestation, when set, makes every key file need an
	// attestation (NAME.attest.pem beside NAME.pub, see AttestationPath)
	// that it verifies and that attests exactly that file's key; otherwise
	// SignerAdd refuses before publishing anything.
	VerifyAttestation AttestationVerifier
	// Agent holds the repository keys (and makes them for a new one).
	Agent agent.Agent
	// Name is the signer's name (targets/NAME); KeyFiles its public key
	// files; Repos the repositories to add it to.
	Name     string
	KeyFiles []string
	Repos    []string
}

// SignerAdd adds the public keys in o.KeyFiles as signer o.Name of each
// repository in o.Repos (targets/NAME and targets/releases), initialising a
// repository that has no trust data with the agent's keys first.
func SignerAdd(ctx context.Context, o SignerAddOptions) error {
	a, name, keyFiles, repos := o.Agent, o.Name, o.KeyFiles, o.Repos
	if !agent.ValidName(name) {
		return fmt.Errorf("trust: signer name \"%s\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character", name)
	}
	if name == "releases" {
		return fmt.Errorf("trust: releases is a reserved keyword, please use a different signer name")
	}
	if len(keyFiles) == 0 {
		return fmt.Errorf("trust: path to a public key must be provided using the `--key` flag")
	}
	var keys []data.PublicKey
	for _, f := range keyFiles {
		k, err := readPublicKey(f)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if o.VerifyAttestation != nil {
		if err := checkAttestations(o.Out, keyFiles, keys, o.VerifyAttestation); err != nil {
			return err
		}
	}
	var failed []string
	var errs []error
	hint := ""
	for _, r := range repos {
		fmt.Fprintf(o.Out, "Adding signer \"%s\" to %s...\n", name, r)
		if err := signerAddOne(ctx, a, o, name, keys, r); err != nil {
			ew := o.Err
			if ew == nil {
				ew = o.Out
			}
			fmt.Fprintln(ew, err.Error())
			failed = append(failed, r)
			errs = append(errs, err)
			if hint == "" {
				hint = Hint(err)
			}
			continue
		}
		fmt.Fprintf(o.Out, "Successfully added signer: %s to %s\n\n", name, r)
	}
	if len(failed) > 0 {
		// docker's closing line; the causes stay reachable (errors.Is,
		// the first one's hint) so the CLI can say what to do.
		if hint == "" {
			hint = "fix the error above and run the same command again: nothing was published for those repositories"
		}
		return &Error{Msg: fmt.Sprintf("failed to add signer to: %s", strings.Join(failed, ", ")), Hint: hint, Err: errors.Join(errs...)}
	}
	return nil
}

func signerAddOne(ctx context.Context, a agent.Agent, o SignerAddOptions, name string, keys []data.PublicKey, repoRef string) error {
	ref, err := parseRef(repoRef)
	if err != nil {
		return err
	}
	if ref.tag != "" || ref.digest != "" {
		return &Error{Msg: fmt.Sprintf("%s: give a repository, not a tag or digest", repoRef)}
	}
	cs := NewCryptoService(a, ref.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, o.Options, ref, cs, actionsPushPull...)
	if err != nil {
		return err
	}
	if _, err := ensureInitialized(ctx, a, repo, cs, o.RootKeyID, repoRef, o.Out, o.ConfirmNewRoot); err != nil {
		return err
	}
	for _, role := range []data.RoleName{data.RoleName("targets/" + name), releasesRole} {
		if err := repo.AddDelegation(role, keys, []string{""}); err != nil {
			return notaryError(repoRef, err)
		}
	}
	if err := repo.Publish(); err != nil {
		return notaryError(repoRef, err)
	}
	return nil
}

// ensureInitialized initialises repo, when the server has no trust data for
// it, with the agent's root key (chosen by rootKeyID, else the only one,
// else a new one), a new targets key on the agent and a server-managed
// snapshot key, as docker does. Nothing is published here. It returns the
// roles of a repository that has trust data, as its update found them
// (each update re-reads and re-verifies every role: a caller that needs
// them again uses these), and none for a repository it initialised.
func ensureInitialized(ctx context.Context, a agent.Agent, repo client.Repository, cs *CryptoService, rootKeyID, repoRef string, out io.Writer, confirm func(string) bool) ([]client.RoleWithSignatures, error) {
	roles, err := repo.ListRoles()
	var notExist client.ErrRepositoryNotExist
	switch {
	case err == nil:
		return roles, nil
	case errors.As(err, &notExist):
	default:
		if _, ok := err.(client.ErrRepoNotInitialized); !ok {
			return nil, notaryError(repoRef, err)
		}
	}
	fmt.Fprintf(out, "Initializing signed repository for %s...\n", repoRef)
	rootID, err := pickRootKey(ctx, a, rootKeyID, out, confirm)
	if err != nil {
		return nil, err
	}
	if err := initialize(repo, cs, rootID); err != nil {
		return nil, notaryError(repoRef, err)
	}
	fmt.Fprintf(out, "Successfully initialized %q\n", repoRef)
	return nil, nil
}

// pickRootKey returns the root key to initialise a repository with.
func pickRootKey(ctx context.Context, a agent.Agent, want string, out io.Writer, confirm func(string) bool) (string, error) {
	keys, err := a.List(ctx)
	if err != nil {
		return "", err
	}
	var roots []agent.KeyInfo
	seen := map[string]bool{}
	for _, k := range keys {
		if k.Role == agent.RoleRoot && !seen[k.ID] { // a key on several backends (root custody) is one key
			seen[k.ID] = true
			if want != "" && (k.ID == want || len(want) >= 7 && len(k.ID) > len(want) && k.ID[:len(want)] == want) {
				return k.ID, nil
			}
			roots = append(roots, k)
		}
	}
	switch {
	case want != "":
		return "", &Error{Msg: fmt.Sprintf("the agent holds no root key %s", want), Hint: "run `trust-agent key list` to see the root keys"}
	case len(roots) == 1:
		return roots[0].ID, nil
	case len(roots) > 1:
		// Which one a new repository should trust is the user's call: a
		// key rotated out of one repository is still a valid root key.
		var list []string
		for _, k := range roots {
			var repos []string
			for _, c := range k.Certs {
				repos = append(repos, c.GUN)
			}
			certified := "no repository"
			if len(repos) > 0 {
				certified = strings.Join(repos, ", ")
			}
			list = append(list, fmt.Sprintf("%s on %s (certificates for: %s)", k.ID, k.Backend, certified))
		}
		return "", &Error{
			Msg:  fmt.Sprintf("the agent holds %d root keys and a new repository needs one: %s", len(roots), strings.Join(list, "; ")),
			Hint: "choose the root key with --root-key ID, e.g. --root-key " + roots[0].ID + " (see `trust-agent key list`)",
		}
	}
	// A new root key goes on a PIV card when the agent has one (slot 9c is
	// for it, and the agent holds no root key, so it is free), not on
	// whichever backend comes first; else on the first unlocked backend.
	backend, err := newRootBackend(ctx, a)
	if err != nil {
		return "", err
	}
	where, err := newRootPlace(ctx, a, backend)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "The agent holds no root key: a new root key will be made on %s. It never leaves that hardware; if the hardware is lost, so is the repository's root of trust.\n", where)
	if confirm != nil && !confirm(fmt.Sprintf("Make the new root key on %s? [y/N] ", where)) {
		return "", &Error{Msg: "no root key was made: aborted", Hint: "choose an existing root key with --root-key ID, or start the agent with the token or card the root key should live on"}
	}
	info, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: backend})
	if err != nil {
		return "", fmt.Errorf("trust: generating a root key on the agent: %w", err)
	}
	fmt.Fprintf(out, "Generated a new root key on %s (%s): %s\n", info.Backend, info.Location, info.ID)
	return info.ID, nil
}

// newRootBackend is the backend for a first root key: the first backend
// the agent can use that attests the keys it makes (a PIV card: its
// Abilities say Attest), locked or not (a locked card asks to be unlocked
// rather than the key landing on another token), else "" (the agent's
// first unlocked backend).
func newRootBackend(ctx context.Context, a agent.Agent) (string, error) {
	st, err := a.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("trust: asking the agent for its backends: %w", err)
	}
	for _, b := range st.Backends {
		if b.Abilities.Attest && b.Error == "" {
			return b.Name, nil
		}
	}
	return "", nil
}

// newRootPlace names the backend a new root key goes to: backend, or the
// agent's first unlocked one (as Generate picks it), with its kind.
func newRootPlace(ctx context.Context, a agent.Agent, backend string) (string, error) {
	st, err := a.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("trust: asking the agent for its backends: %w", err)
	}
	for _, b := range st.Backends {
		if backend == b.Name || backend == "" && !b.Locked && b.Error == "" {
			return fmt.Sprintf("%s (%s)", b.Name, b.Kind), nil
		}
	}
	if backend != "" {
		return backend, nil
	}
	return "", &Error{Msg: "no unlocked backend to make a root key on", Hint: "unlock one: trust-agent unlock"}
}

// readPublicKey reads a signer's public key file as docker does.
func readPublicKey(path string) (data.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("unable to read public key from file: %s", path), Err: err}
	}
	k, err := utils.ParsePEMPublicKey(b)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("unable to parse valid public key certificate from file %s: %v", path, err), Hint: "pass the NAME.pub file that `trust-agent key generate` or `docker trust key generate` wrote", Err: err}
	}
	return k, nil
}
