package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// RotateKey replaces the key of a base role of repoRef, as notary key
// rotate does, and publishes the new root.json:
//
//   - targets: a new targets key on the agent (serverManaged is refused);
//   - snapshot: with serverManaged the server makes and keeps the new key,
//     else a new snapshot key on the agent;
//   - root: a new root key on the agent's hardware, certified by the agent
//     (CertifyRoot); the old root key signs the transition too, so clients
//     that trust the old root accept the new one. confirm is asked first
//     (nil: refuse) unless yes.
//
// Keys rotated out stay on the hardware. Success is reported to out.
func RotateKey(ctx context.Context, o Options, a agent.Agent, role string, repoRef string, serverManaged, yes bool, confirm func(prompt string) bool, out io.Writer) error {
	r := data.RoleName(role)
	switch r {
	case data.CanonicalTargetsRole, data.CanonicalSnapshotRole, data.CanonicalRootRole:
	case data.CanonicalTimestampRole:
		if !serverManaged {
			return &Error{Msg: "the timestamp key is always managed by the server", Hint: "rotate it on the server with -r: trust-agent key rotate timestamp " + repoRef + " -r"}
		}
	default:
		return &Error{Msg: fmt.Sprintf("invalid role %q: only root, targets, snapshot and timestamp keys can be rotated", role), Hint: "delegation (signer) keys are replaced with signer remove and signer add"}
	}
	if serverManaged && (r == data.CanonicalTargetsRole || r == data.CanonicalRootRole) {
		return &Error{Msg: fmt.Sprintf("notary does not currently permit the server to manage the %s key", r), Hint: "drop -r: the new key is made on the agent"}
	}
	ref, err := parseRef(repoRef)
	if err != nil {
		return err
	}
	gun := ref.gun.String()
	cs := NewCryptoService(a, gun).WithContext(ctx)
	repo, err := openRepo(ctx, o, ref, cs, actionsPushPull...)
	if err != nil {
		return err
	}
	if r != data.CanonicalRootRole {
		if err := repo.RotateKey(r, serverManaged, nil); err != nil {
			return notaryError(gun, err)
		}
		fmt.Fprintf(out, "Successfully rotated %s key for repository %s\n", r, gun)
		return nil
	}

	if !yes {
		prompt := fmt.Sprintf("Rotating the root key of %s makes a new root key on the hardware and signs the new root with both the old and the new key. Keep the new key as safe as the old. Are you sure you want to continue? [y/N] ", repoRef)
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return nil
		}
	}
	// Read the current root first, so that the old root key is known to
	// sign the transition and a missing repository fails before a key is
	// made.
	if _, err := repo.ListRoles(); err != nil {
		return notaryError(gun, err)
	}
	info, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}})
	if err != nil {
		return fmt.Errorf("trust: generating a root key on the agent: %w", err)
	}
	cert, err := cs.RootCertificate(info.ID)
	if err != nil {
		return err
	}
	// notary's RotateKey would make the certificate through the key's
	// crypto.Signer, which agent keys do not have (the agent signs no blind
	// digests). Stage the same change RotateKey publishes, with the agent's
	// certificate, in the repository's changelist: Publish applies it and
	// signs root.json with the old root key and the new one.
	meta, err := json.Marshal(changelist.TUFRootData{RoleName: data.CanonicalRootRole, Keys: data.KeyList{cert}})
	if err != nil {
		return err
	}
	cl, err := repo.GetChangelist()
	if err != nil {
		return err
	}
	if err := cl.Add(changelist.NewTUFChange(changelist.ActionCreate, changelist.ScopeRoot, changelist.TypeBaseRole, data.CanonicalRootRole.String(), meta)); err != nil {
		return err
	}
	if err := repo.Publish(); err != nil {
		return notaryError(gun, err)
	}
	fmt.Fprintf(out, "Successfully rotated root key for repository %s\n", gun)
	fmt.Fprintf(out, "New root key %s (certificate %s)\n", info.ID, cert.ID())
	return nil
}
