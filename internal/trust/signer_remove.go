package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// SignerRemoveOptions are SignerRemove's and SignerRemoveKey's.
type SignerRemoveOptions struct {
	Options
	// Agent holds the keys that sign the change.
	Agent agent.Agent
	// Name is the signer; Repo the repository.
	Name string
	Repo string
	// KeyID is the key SignerRemoveKey removes; SignerRemove refuses it.
	KeyID string
	// Force skips the question; else Confirm is asked (nil: refuse).
	Force   bool
	Confirm func(prompt string) bool
	// Out gets progress and success in docker's words.
	Out io.Writer
}

// SignerRemove removes signer ro.Name from ro.Repo as docker trust signer
// remove does: the signer's keys leave targets/releases, targets/NAME is
// deleted, and the change is published with the repository (targets) key
// on the agent. When the signer's signatures are what keep targets/releases
// valid, releases is re-signed in the same publish with the keys it keeps
// that the agent holds (notary's witness), so the repository stays
// pullable and signable; when the agent holds none of them, ro.Confirm is
// asked docker's question first unless ro.Force, and a "no" prints docker's
// "Aborting action." and returns nil. Progress and success are written to
// ro.Out in docker's words.
func SignerRemove(ctx context.Context, ro SignerRemoveOptions) error {
	o, a, name, repoRef, force, confirm, out := ro.Options, ro.Agent, ro.Name, ro.Repo, ro.Force, ro.Confirm, ro.Out
	if ro.KeyID != "" {
		return errors.New("trust: SignerRemove removes the whole signer; to remove one key, call SignerRemoveKey")
	}
	fmt.Fprintf(out, "Removing signer \"%s\" from %s...\n", name, repoRef)
	removed, err := signerRemove(ctx, o, a, name, repoRef, "", force, confirm, out)
	if err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(out, "Successfully removed %s from %s\n\n", name, repoRef)
	}
	return nil
}

// SignerRemoveKey removes one key, ro.KeyID (its full ID or a unique prefix
// of at least 7 hex digits), from signer ro.Name of ro.Repo, as notary's
// `delegation remove ROLE KEYID` does, keeping the signer's other keys: the
// key leaves targets/NAME, and targets/releases too unless another signer
// lists it. A role whose metadata the key's signature is what keeps valid is
// re-signed with the role's remaining keys that the agent holds; when the
// agent holds none, ro.Confirm is asked first unless ro.Force (a "no"
// prints "Aborting action." and returns nil), and ro.Out says who can repair it
// (SignerWitness). The signer's last key is refused: remove the signer.
func SignerRemoveKey(ctx context.Context, ro SignerRemoveOptions) error {
	o, a, name, repoRef, keyID, force, confirm, out := ro.Options, ro.Agent, ro.Name, ro.Repo, ro.KeyID, ro.Force, ro.Confirm, ro.Out
	fmt.Fprintf(out, "Removing key %s from signer \"%s\" of %s...\n", keyID, name, repoRef)
	removed, err := signerRemove(ctx, o, a, name, repoRef, keyID, force, confirm, out)
	if err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(out, "Successfully removed key %s from %s in %s\n\n", keyID, name, repoRef)
	}
	return nil
}

// minKeyIDPrefix is the shortest key ID prefix SignerRemoveKey accepts, as
// git's short hashes (docker shows 12 digits).
const minKeyIDPrefix = 7

func signerRemove(ctx context.Context, o Options, a agent.Agent, name, repoRef, keyID string, force bool, confirm func(string) bool, out io.Writer) (bool, error) {
	role := data.RoleName(data.CanonicalTargetsRole.String() + "/" + name)
	if role == releasesRole {
		return false, &Error{Msg: "releases is a reserved keyword and cannot be removed", Hint: "name a signer listed by `trust-agent inspect --pretty " + repoRef + "`"}
	}
	ref, err := parseRef(repoRef)
	if err != nil {
		return false, err
	}
	gun := ref.gun.String()
	cs := NewCryptoService(a, gun).WithContext(ctx)
	repo, err := openRepo(ctx, o, ref, cs, actionsPushPull...)
	if err != nil {
		return false, err
	}
	delegations, err := repo.GetDelegationRoles()
	if err != nil {
		return false, &Error{Msg: fmt.Sprintf("error retrieving signers for %s: %v", repoRef, notaryError(gun, err)), Hint: Hint(notaryError(gun, err)), Err: err}
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
	states, err := delegationStates(o, ref, repo, nil)
	if err != nil {
		return false, err
	}
	held, err := heldKeys(ctx, a)
	if err != nil {
		return false, err
	}

	// What leaves which role.
	removeFrom := map[data.RoleName][]string{}
	if keyID == "" {
		removeFrom[releasesRole] = signer.KeyIDs
	} else {
		id, err := signerKey(signer, keyID, repoRef)
		if err != nil {
			return false, err
		}
		removeFrom[role] = []string{id}
		if sharedKey(delegations, id, role) == "" {
			removeFrom[releasesRole] = []string{id}
		}
	}

	// Which of those roles the removal leaves signed by too few of the
	// keys they keep: re-sign them where the agent can, else ask.
	var witness []data.RoleName
	var breaks []data.RoleName
	for _, r := range []data.RoleName{role, releasesRole} {
		ids, ok := removeFrom[r]
		s := states[r]
		if !ok || s == nil || !s.valid {
			continue
		}
		keep := without(s.role.KeyIDs, ids)
		kept := toSet(keep)
		signedBy := 0
		for _, sig := range s.sigs {
			if kept[sig.KeyID] {
				signedBy++
			}
		}
		switch {
		case signedBy >= s.role.Threshold:
		case countIn(keep, held) >= s.role.Threshold:
			witness = append(witness, r)
		default:
			breaks = append(breaks, r)
		}
	}
	if keyID == "" {
		// docker's own test and question, for what docker does.
		if s := states[releasesRole]; s == nil || !s.broken() {
			roles, err := repo.ListRoles()
			if err != nil {
				return false, notaryError(gun, err)
			}
			if _, err := isLastSignerForReleases(signer, roles); err != nil {
				return false, err
			}
		}
	}
	if (len(breaks) > 0 || len(witness) > 0) && !force {
		prompt, err := removalQuestion(repo, gun, name, repoRef, keyID, witness, breaks)
		if err != nil {
			return false, err
		}
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return false, nil
		}
	}

	for _, r := range []data.RoleName{role, releasesRole} {
		if ids, ok := removeFrom[r]; ok {
			if err := repo.RemoveDelegationKeys(r, ids); err != nil {
				return false, notaryError(gun, err)
			}
		}
	}
	if keyID == "" {
		if err := repo.RemoveDelegationRole(role); err != nil {
			return false, notaryError(gun, err)
		}
	}
	for _, r := range witness {
		fmt.Fprintf(out, "Re-signing %s with the keys it keeps that the agent holds, so that %s stays signable\n", r, repoRef)
	}
	if len(witness) > 0 {
		if _, err := repo.Witness(witness...); err != nil {
			return false, notaryError(gun, err)
		}
		if err := cs.SetDelegationRole(witness...); err != nil {
			return false, err
		}
	}
	if err := repo.Publish(); err != nil {
		return false, notaryError(gun, err)
	}
	for _, r := range witness {
		// The removed keys' tags stay trusted under the keys kept: say
		// which, so that an admin removing a compromised key can revoke.
		fmt.Fprintf(out, "%s of %s now signed by the keys it keeps, vouching for:\n", r, repoRef)
		if err := listRoleTargets(out, repo, gun, r); err != nil {
			return false, err
		}
	}
	for _, r := range breaks {
		if keep := without(states[r].role.KeyIDs, removeFrom[r]); len(keep) > 0 {
			fmt.Fprintf(out, "%s of %s is now signed by none of the keys it lists; a holder of one of them (%s) repairs it with: trust-agent signer witness %s %s\n", r, repoRef, strings.Join(keep, ", "), repoRef, r)
		} else {
			fmt.Fprintf(out, "%s of %s now lists no keys; once a signer is added, it repairs it with: trust-agent signer witness %s %s\n", r, repoRef, repoRef, r)
		}
	}
	return true, nil
}

// removalQuestion is the y/N question before a removal that leaves roles
// in breaks signed by none of the keys they keep, or re-signs the roles in
// witness so that their tags stay trusted under the keys they keep: the
// one thing an admin removing a compromised key must not let happen
// unseen. Removing a whole signer that breaks releases asks docker's
// question.
func removalQuestion(repo client.Repository, gun, name, repoRef, keyID string, witness, breaks []data.RoleName) (string, error) {
	if keyID == "" && len(breaks) > 0 {
		return fmt.Sprintf("The signer \"%s\" signs the last released version of %s. Removing this signer will make %s unpullable. Are you sure you want to continue? [y/N] ", name, repoRef, repoRef), nil
	}
	var b strings.Builder
	if keyID == "" {
		fmt.Fprintf(&b, "The signer \"%s\" signs the last released version of %s.", name, repoRef)
	} else {
		roles := make([]string, 0, len(witness)+len(breaks))
		for _, r := range append(append([]data.RoleName{}, witness...), breaks...) {
			roles = append(roles, r.String())
		}
		fmt.Fprintf(&b, "The key %s signs the current %s of %s.", keyID, strings.Join(roles, " and "), repoRef)
	}
	for _, r := range witness {
		targets, err := repo.ListTargets(r)
		if err != nil {
			return "", notaryError(gun, err)
		}
		var tags []string
		for _, t := range targets {
			if t.Role == r {
				tags = append(tags, t.Name)
			}
		}
		sort.Slice(tags, func(i, j int) bool { return naturalLess(tags[i], tags[j]) })
		fmt.Fprintf(&b, " %s will be re-signed with the keys it keeps that this agent holds, which then vouch for its tags (%s): if the removed keys were compromised, answer no and revoke those tags first (trust-agent revoke).", r, strings.Join(tags, ", "))
	}
	for _, r := range breaks {
		fmt.Fprintf(&b, " %s will be left untrusted and unsignable until a holder of one of the keys it keeps runs `trust-agent signer witness %s %s`.", r, repoRef, r)
	}
	b.WriteString(" Are you sure you want to continue? [y/N] ")
	return b.String(), nil
}

// signerKey finds keyID (full, or a unique prefix) among signer's keys.
func signerKey(signer data.Role, keyID, repoRef string) (string, error) {
	var found []string
	for _, id := range signer.KeyIDs {
		if id == keyID || len(keyID) >= minKeyIDPrefix && strings.HasPrefix(id, keyID) {
			found = append(found, id)
		}
	}
	name := strings.TrimPrefix(signer.Name.String(), data.CanonicalTargetsRole.String()+"/")
	switch {
	case len(found) > 1:
		return "", &Error{Msg: fmt.Sprintf("key ID %s is ambiguous among the keys of signer %s: %s", keyID, name, strings.Join(found, ", ")), Hint: "give more digits of the key ID"}
	case len(found) == 0:
		hint := "see the signer's keys with `trust-agent inspect --pretty " + repoRef + "`"
		if len(keyID) < minKeyIDPrefix {
			hint = fmt.Sprintf("give the key ID, or at least its first %d hex digits, as `trust-agent inspect --pretty %s` shows it", minKeyIDPrefix, repoRef)
		}
		return "", &Error{Msg: fmt.Sprintf("signer %s of %s has no key %s (its keys: %s)", name, repoRef, keyID, strings.Join(signer.KeyIDs, ", ")), Hint: hint}
	case len(signer.KeyIDs) == 1:
		return "", &Error{
			Msg:  fmt.Sprintf("key %s is the only key of signer %s of %s", found[0], name, repoRef),
			Hint: "remove the signer instead: trust-agent signer remove " + name + " " + repoRef + "; or add its new key first (trust-agent signer add --key NEW.pub " + name + " " + repoRef + ")",
		}
	}
	return found[0], nil
}

// sharedKey is another first-level signer than role (and releases) that
// lists key id, or "": docker's signer add puts a signer's keys into
// targets/releases too, so a key leaves releases only with its last signer.
func sharedKey(delegations []data.Role, id string, role data.RoleName) data.RoleName {
	for _, d := range delegations {
		if d.Name == role || d.Name == releasesRole || strings.Count(d.Name.String(), "/") != 1 {
			continue
		}
		for _, k := range d.KeyIDs {
			if k == id {
				return d.Name
			}
		}
	}
	return ""
}

// without is ids less the ones in drop.
func without(ids, drop []string) []string {
	d := toSet(drop)
	var keep []string
	for _, id := range ids {
		if !d[id] {
			keep = append(keep, id)
		}
	}
	return keep
}

func toSet(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
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
