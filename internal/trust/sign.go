package trust

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// SignOptions configure Sign.
type SignOptions struct {
	Options
	// Digest ("sha256:HEX") and Size skip the registry: the one tag given
	// is signed with them.
	Digest string
	Size   int64
	// RootKeyID picks the root key if a repository must be initialised.
	RootKeyID string
	// Out gets docker's messages; Progress (may be nil) a line per tag.
	Out, Progress io.Writer
	// Agent holds the keys that sign.
	Agent agent.Agent
	// Refs are the REPO:TAG references to sign.
	Refs []string
}

// Sign signs every REPO:TAG in o.Refs with o.Agent's keys: each tag's manifest digest and size
// come from the registry (unless given), and each repository's tags are
// published together, so a repository is signed whole or not at all. The
// roles are every delegation the agent holds a key for, or targets when the
// repository has no delegations and the agent holds its repository key.
func Sign(ctx context.Context, o SignOptions) error {
	a, refs := o.Agent, o.Refs
	byRepo := map[data.GUN][]imageRef{}
	var order []data.GUN
	for _, r := range refs {
		ref, err := parseRef(r)
		if err != nil {
			return err
		}
		if ref.tag == "" || ref.digest != "" {
			return &Error{Msg: fmt.Sprintf("%s: tag must be specified (REPO:TAG)", r), Hint: "name the tag to sign, e.g. " + ref.gun.String() + ":latest"}
		}
		if _, ok := byRepo[ref.gun]; !ok {
			order = append(order, ref.gun)
		}
		byRepo[ref.gun] = append(byRepo[ref.gun], ref)
	}
	if o.Digest != "" && len(refs) != 1 {
		return &Error{Msg: "--digest signs exactly one tag", Hint: "give one REPO:TAG with --digest and --size"}
	}
	for _, gun := range order {
		if err := signRepo(ctx, a, o, byRepo[gun]); err != nil {
			return err
		}
	}
	return nil
}

func signRepo(ctx context.Context, a agent.Agent, o SignOptions, refs []imageRef) error {
	first := refs[0]
	targets := make([]*client.Target, 0, len(refs))
	var puller *remote.Puller
	if o.Digest == "" {
		// One puller for every tag: one registry ping, one token and one
		// connection, not one of each per tag.
		kc, err := o.keychain()
		if err != nil {
			return err
		}
		if puller, err = remote.NewPuller(remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)); err != nil {
			return &Error{Msg: fmt.Sprintf("cannot reach the registry of %s: %v", first.original, err), Err: err}
		}
	}
	for i, ref := range refs {
		t, err := resolveTarget(ctx, o, puller, ref)
		if err != nil {
			return err
		}
		if o.Progress != nil && len(refs) > 1 {
			fmt.Fprintf(o.Progress, "[%d/%d] %s sha256:%s\n", i+1, len(refs), ref.original, hex.EncodeToString(t.Hashes["sha256"]))
		}
		targets = append(targets, t)
	}
	cs := NewCryptoService(a, first.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, o.Options, first, cs, actionsPushPull...)
	if err != nil {
		return err
	}
	listed, err := ensureInitialized(ctx, a, repo, cs, o.RootKeyID, first.gun.String(), o.Out, o.ConfirmNewRoot)
	if err != nil {
		return err
	}
	roles, err := signingRoles(ctx, a, repo, cs, first.gun.String())
	if err != nil {
		return err
	}
	var delegations []data.RoleName
	used := map[data.RoleName]bool{}
	for i, ref := range refs {
		// As docker's GetSignableRoles: a delegation signs only the
		// targets its paths cover.
		var into []data.RoleName
		for _, r := range roles {
			if r.Name == data.CanonicalTargetsRole || r.CheckPaths(ref.tag) {
				into = append(into, r.Name)
			}
		}
		if len(into) == 0 {
			return &Error{
				Msg:  fmt.Sprintf("no valid signing keys for %s: the paths of the delegation roles the agent can sign (%s) do not cover %s", ref.original, roleNames(roles), ref.tag),
				Hint: "an admin adds a signer whose paths cover the tag, or widens the delegation's paths (notary delegation add --paths)",
			}
		}
		fmt.Fprintf(o.Out, "Signing and pushing trust metadata for %s\n", ref.original)
		if err := repo.AddTarget(targets[i], into...); err != nil {
			return notaryError(first.gun.String(), err)
		}
		for _, r := range into {
			if data.IsDelegation(r) && !used[r] {
				used[r] = true
				delegations = append(delegations, r)
			}
		}
	}
	// Each delegation signed into is re-signed whole, even when the tag
	// was already in it with the same digest (notary would leave it
	// alone): a signer just added then signs targets/releases itself, so
	// removing the signer who signed it last cannot leave it signed by no
	// key the role lists. Metadata already in that state is refused here
	// with the way out, rather than by the server without a reason.
	var states map[data.RoleName]*roleState
	if len(delegations) > 0 {
		if states, err = delegationStates(o.Options, first, repo, listed); err != nil {
			return err
		}
	}
	for _, r := range delegations {
		switch s := states[r]; {
		case s == nil || !s.published: // new metadata: signed anyway
		case s.broken():
			return witnessNeeded(first.gun.String(), r)
		default:
			if _, err := repo.Witness(r); err != nil {
				return notaryError(first.gun.String(), err)
			}
		}
	}
	if err := cs.SetDelegationRole(delegations...); err != nil {
		return err
	}
	if err := repo.Publish(); err != nil {
		return notaryError(first.gun.String(), err)
	}
	for _, ref := range refs {
		fmt.Fprintf(o.Out, "Successfully signed %s:%s\n", ref.gun, ref.tag)
	}
	return nil
}

// signingRoles returns the roles a new target may go into, as docker's
// trust sign chooses them: every delegation (targets/releases and
// targets/NAME) whose keys include one the agent holds; else targets, when
// the repository has no delegations and the agent holds its targets key.
// The caller keeps, per target, the delegations whose paths cover it.
func signingRoles(ctx context.Context, a agent.Agent, repo client.Repository, cs *CryptoService, gun string) ([]data.Role, error) {
	held, err := cs.list(false) // fills the key list the signatures use: one List for the whole sign
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, k := range held {
		ids[k.ID] = true
	}
	delegations, err := repo.GetDelegationRoles()
	if err != nil {
		return nil, notaryError(gun, err)
	}
	var roles []data.Role
	for _, d := range delegations {
		if strings.Count(d.Name.String(), "/") != 1 { // docker signs only first-level delegations
			continue
		}
		for _, id := range d.KeyIDs {
			if ids[id] {
				roles = append(roles, d)
				break
			}
		}
	}
	if len(roles) > 0 {
		return roles, nil
	}
	if len(delegations) == 0 && len(cs.ListKeys(data.CanonicalTargetsRole)) > 0 {
		return []data.Role{{Name: data.CanonicalTargetsRole}}, nil
	}
	return nil, &Error{
		Msg:  fmt.Sprintf("no valid signing keys for delegation roles of %s: the agent holds none of its signers' keys", gun),
		Hint: "add your key as a signer first: trust-agent key generate NAME, then an admin runs trust-agent signer add --key NAME.pub NAME " + gun,
	}
}

// roleNames lists roles' names, comma separated.
func roleNames(roles []data.Role) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name.String()
	}
	return strings.Join(names, ", ")
}

// resolveTarget is the TUF target for ref: its manifest's digest and size,
// from the registry through puller (docker's credentials) unless given.
func resolveTarget(ctx context.Context, o SignOptions, puller *remote.Puller, ref imageRef) (*client.Target, error) {
	digest, size := o.Digest, o.Size
	if digest == "" {
		tag, err := name.NewTag(ref.named.String())
		if err != nil {
			return nil, &Error{Msg: fmt.Sprintf("invalid reference %s: %v", ref.original, err), Err: err}
		}
		desc, err := puller.Head(ctx, tag)
		if err != nil {
			return nil, &Error{
				Msg:  fmt.Sprintf("cannot resolve %s in its registry: %v", ref.original, err),
				Hint: "check that the tag was pushed and that you are logged in (docker login); or give --digest sha256:HEX --size N",
				Err:  err,
			}
		}
		digest, size = desc.Digest.String(), desc.Size
	}
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	sum, err := hex.DecodeString(hexDigest)
	if !ok || err != nil || len(sum) != 32 {
		return nil, &Error{Msg: fmt.Sprintf("%q is not a sha256 digest", digest), Hint: "give --digest sha256:<64 hex digits>"}
	}
	if size <= 0 {
		return nil, &Error{Msg: "the manifest size must be positive", Hint: "give --size N with --digest"}
	}
	return &client.Target{Name: ref.tag, Hashes: data.Hashes{"sha256": sum}, Length: size}, nil
}
