package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// RotateOptions configure Rotate.
type RotateOptions struct {
	Options
	// ServerManaged hands the key to the notary server (snapshot,
	// timestamp), as notary key rotate -r does.
	ServerManaged bool
	// Yes skips the question before a root rotation; else Confirm is asked
	// (nil: refuse).
	Yes     bool
	Confirm func(prompt string) bool
	// Backend names the agent backend (as in `trust-agent status`) a new
	// root key is made on; empty means the backend of the current root key.
	Backend string
	// Out gets the progress and success messages.
	Out io.Writer
}

// RotateKey is Rotate with positional options and the default backend.
func RotateKey(ctx context.Context, o Options, a agent.Agent, role string, repoRef string, serverManaged, yes bool, confirm func(prompt string) bool, out io.Writer) error {
	return Rotate(ctx, a, RotateOptions{Options: o, ServerManaged: serverManaged, Yes: yes, Confirm: confirm, Out: out}, role, repoRef)
}

// Rotate replaces the key of a base role of repoRef, as notary key rotate
// does, and publishes the new root.json:
//
//   - targets: a new targets key on the agent (ServerManaged is refused);
//   - snapshot: with ServerManaged the server makes and keeps the new key,
//     else a new snapshot key on the agent;
//   - root: a new root key on the agent's hardware, on the backend of the
//     current root key unless o.Backend names another, certified by the
//     agent (CertifyRoot); the old root key signs the transition too, so
//     clients that trust the old root accept the new one. Confirm is asked
//     first unless Yes. A PIV card holds one root key (slot 9c): rotating
//     a root that lives on a card needs --backend naming another card or
//     token; Rotate never falls back to another backend by itself.
//
// Keys rotated out stay on the hardware. Success is reported to o.Out.
func Rotate(ctx context.Context, a agent.Agent, o RotateOptions, role string, repoRef string) error {
	serverManaged, yes, confirm, out := o.ServerManaged, o.Yes, o.Confirm, o.Out
	if out == nil {
		out = io.Discard
	}
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
	repo, err := openRepo(ctx, o.Options, ref, cs, actionsPushPull...)
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

	// Read the current root first, so that the old root key is known to
	// sign the transition, and a missing repository or a backend that
	// cannot take the new key fails before anything is asked or made.
	roles, err := repo.ListRoles()
	if err != nil {
		return notaryError(gun, err)
	}
	keys, err := a.List(ctx)
	if err != nil {
		return fmt.Errorf("trust: listing the agent's keys: %w", err)
	}
	backend, err := rootBackend(o.Backend, gun, repoRef, rootKeysOf(keys, roles, gun), keys)
	if err != nil {
		return err
	}
	if !yes {
		where := "the hardware"
		if backend != "" {
			where = backend
		}
		prompt := fmt.Sprintf("Rotating the root key of %s makes a new root key on %s and signs the new root with both the old and the new key. Keep the new key as safe as the old. Are you sure you want to continue? [y/N] ", repoRef, where)
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return nil
		}
	}
	info, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: backend})
	if err != nil {
		return fmt.Errorf("trust: generating a root key on the agent: %w", err)
	}
	fmt.Fprintf(out, "Generated a new root key on %s (%s): %s\n", info.Backend, info.Location, info.ID)
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
	fmt.Fprintf(out, "New root key %s on %s (certificate %s)\n", info.ID, info.Backend, cert.ID())
	return nil
}

// rootKeysOf are the agent's keys that the current root.json lists as root
// keys: by canonical ID, or by the ID of their certificate for gun.
func rootKeysOf(keys []agent.KeyInfo, roles []client.RoleWithSignatures, gun string) []agent.KeyInfo {
	listed := map[string]bool{}
	for _, r := range roles {
		if r.Name == data.CanonicalRootRole {
			for _, id := range r.KeyIDs {
				listed[id] = true
			}
		}
	}
	var cur []agent.KeyInfo
	for _, k := range keys {
		if k.Role != agent.RoleRoot {
			continue
		}
		for _, id := range keyIDsFor(k, gun) {
			if listed[id] {
				cur = append(cur, k)
				break
			}
		}
	}
	return cur
}

// keyIDsFor are the IDs key k has in gun's root.json: its canonical ID and
// those of its root certificates for gun.
func keyIDsFor(k agent.KeyInfo, gun string) []string {
	ids := []string{k.ID}
	for _, c := range k.Certs {
		if c.GUN != gun {
			continue
		}
		if pub, err := certPublicKey(c.DER); err == nil {
			ids = append(ids, pub.ID())
		}
	}
	return ids
}

// rootBackend is the backend a new root key for gun is made on: backend
// if given, else that of the current root key (current), so that a root
// key on a card is not silently replaced by one on another token; empty
// (the agent's first unlocked backend) when the agent holds no current
// root key. A PIV card holds one root key, in slot 9c: a card that already
// holds one is refused, and nothing falls back to another backend.
func rootBackend(backend, gun, repoRef string, current, keys []agent.KeyInfo) (string, error) {
	if backend == "" && len(current) > 0 {
		backend = current[0].Backend
	}
	if isPIV(backend) {
		for _, k := range keys {
			if k.Role == agent.RoleRoot && k.Backend == backend {
				return "", &Error{
					Msg:  fmt.Sprintf("cannot make a new root key for %s on %s: a PIV card holds one root key in slot 9c, and it holds %s", gun, backend, k.ID),
					Hint: "a PIV card holds one root key in slot 9c; rotate onto another card or token with --backend NAME (see `trust-agent status`): trust-agent key rotate root " + repoRef + " --backend NAME",
				}
			}
		}
	}
	return backend, nil
}

// isPIV reports whether backend names a PIV card ("piv:serial=N").
func isPIV(backend string) bool { return strings.HasPrefix(backend, "piv:") }
