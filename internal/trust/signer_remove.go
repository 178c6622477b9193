package trust

import (
	"context"
	"fmt"
	"io"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// SignerRemove removes signer name from repoRef as docker trust signer
// remove does: the signer's keys leave targets/releases, targets/NAME is
// deleted, and the change is published with the repository (targets) key
// on the agent. When the signer's signatures are what keep targets/releases
// valid, confirm is asked docker's question first unless force; a "no"
// prints docker's "Aborting action." and returns nil. Progress and success
// are written to out in docker's words.
func SignerRemove(ctx context.Context, o Options, a agent.Agent, name string, repoRef string, force bool, confirm func(prompt string) bool, out io.Writer) error {
	fmt.Fprintf(out, "Removing signer \"%s\" from %s...\n", name, repoRef)
	removed, err := signerRemove(ctx, o, a, name, repoRef, force, confirm, out)
	if err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(out, "Successfully removed %s from %s\n\n", name, repoRef)
	}
	return nil
}

func signerRemove(ctx context.Context, o Options, a agent.Agent, name, repoRef string, force bool, confirm func(string) bool, out io.Writer) (bool, error) {
	role := data.RoleName(data.CanonicalTargetsRole.String() + "/" + name)
	if role == releasesRole {
		return false, &Error{Msg: "releases is a reserved keyword and cannot be removed", Hint: "name a signer listed by `trust-agent inspect --pretty " + repoRef + "`"}
	}
	ref, err := parseRef(repoRef)
	if err != nil {
		return false, err
	}
	cs := NewCryptoService(a, ref.gun.String()).WithContext(ctx)
	repo, err := openRepo(ctx, o, ref, cs, actionsPushPull...)
	if err != nil {
		return false, err
	}
	delegations, err := repo.GetDelegationRoles()
	if err != nil {
		return false, &Error{Msg: fmt.Sprintf("error retrieving signers for %s: %v", repoRef, notaryError(ref.gun.String(), err)), Hint: Hint(notaryError(ref.gun.String(), err)), Err: err}
	}
	var signer data.Role
	for _, d := range delegations {
		if d.Name == role {
			signer = d
			break
		}
	}
	if signer.Name == "" {
		return false, &Error{Msg: fmt.Sprintf("no signer %s for repository %s", name, repoRef), Hint: "see the signers with `trust-agent inspect --pretty " + repoRef + "`"}
	}
	roles, err := repo.ListRoles()
	if err != nil {
		return false, notaryError(ref.gun.String(), err)
	}
	last, err := isLastSignerForReleases(signer, roles)
	if err != nil {
		return false, err
	}
	if last && !force {
		prompt := fmt.Sprintf("The signer \"%s\" signs the last released version of %s. Removing this signer will make %s unpullable. Are you sure you want to continue? [y/N] ", name, repoRef, repoRef)
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return false, nil
		}
	}
	if err := repo.RemoveDelegationKeys(releasesRole, signer.KeyIDs); err != nil {
		return false, notaryError(ref.gun.String(), err)
	}
	if err := repo.RemoveDelegationRole(role); err != nil {
		return false, notaryError(ref.gun.String(), err)
	}
	if err := repo.Publish(); err != nil {
		return false, notaryError(ref.gun.String(), err)
	}
	return true, nil
}

// isLastSignerForReleases is docker's test: would targets/releases keep
// fewer valid signatures than its threshold without signer's keys.
func isLastSignerForReleases(signer data.Role, all []client.RoleWithSignatures) (bool, error) {
	var releases client.RoleWithSignatures
	for _, r := range all {
		if r.Name == releasesRole {
			releases = r
			break
		}
	}
	counter := len(releases.Signatures)
	if counter == 0 {
		return false, &Error{Msg: "all signed tags are currently revoked, use docker trust sign to fix", Hint: "sign a tag first (trust-agent sign REPO:TAG), then remove the signer"}
	}
	for _, sig := range releases.Signatures {
		for _, id := range signer.KeyIDs {
			if sig.KeyID == id {
				counter--
			}
		}
	}
	return counter < releases.Threshold, nil
}
