package trust

import (
	"context"
	"fmt"
	"io"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// RevokeOptions are Revoke's.
type RevokeOptions struct {
	Options
	// Agent holds the keys that sign the change.
	Agent agent.Agent
	// Repo is REPO:TAG (that tag's signature) or REPO (every tag's).
	Repo string
	// Yes skips the question; else Confirm is asked (nil: refuse).
	Yes     bool
	Confirm func(prompt string) bool
	// Out gets docker's messages.
	Out io.Writer
}

// Revoke deletes the signature for ro.Repo's tag, or with no tag every
// signature (after ro.Confirm is asked docker's question, unless ro.Yes; a "no"
// prints "Aborting action." and returns nil), as docker trust revoke does.
// Tags are removed from every role that holds them and that the agent can
// sign: targets with the repository key, delegations whose keys the agent
// holds; one publish, whose delegation signatures name every delegation
// role changed (SetDelegationRole).
func Revoke(ctx context.Context, ro RevokeOptions) error {
	o, a, repoRef, yes, confirm, out := ro.Options, ro.Agent, ro.Repo, ro.Yes, ro.Confirm, ro.Out
	ref, err := parseRef(repoRef)
	if err != nil {
		return err
	}
	if ref.digest != "" {
		return &Error{Msg: "cannot use a digest reference for IMAGE:TAG", Hint: "name the tag: REPO:TAG"}
	}
	gun := ref.gun.String()
	cs := NewCryptoService(a, gun).WithContext(ctx)
	repo, err := openRepo(ctx, o, ref, cs, actionsPushPull...)
	if err != nil {
		return err
	}
	// docker reads the repository first; a missing one is its error.
	if _, err := repo.ListTargets(); err != nil {
		return notaryError(gun, err)
	}
	if ref.tag != "" {
		if err := revokeTags(repo, cs, gun, ref.tag); err != nil {
			return wrapMsg(err, fmt.Sprintf("could not remove signature for %s", repoRef))
		}
		fmt.Fprintf(out, "Successfully deleted signature for %s\n", repoRef)
		return nil
	}
	if !yes {
		prompt := fmt.Sprintf("Please confirm you would like to delete all signature data for %s? [y/N] ", repoRef)
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return nil
		}
	}
	targets, err := repo.ListTargets(releasesRole, data.CanonicalTargetsRole)
	if err != nil {
		return wrapMsg(notaryError(gun, err), fmt.Sprintf("could not remove all signatures for %s", repoRef))
	}
	if len(targets) == 0 {
		return &Error{Msg: fmt.Sprintf("could not remove all signatures for %s: no signed tags to remove", repoRef), Hint: "the repository has no signed tags"}
	}
	var tags []string
	for _, t := range targets {
		tags = append(tags, t.Name)
	}
	if err := revokeTags(repo, cs, gun, tags...); err != nil {
		return wrapMsg(err, fmt.Sprintf("could not remove all signatures for %s", repoRef))
	}
	fmt.Fprintf(out, "Successfully deleted all signature data for %s\n", repoRef)
	return nil
}

// wrapMsg prefixes an error's message as docker's errors.Wrapf does,
// keeping its hint and cause.
func wrapMsg(err error, prefix string) error {
	if e, ok := err.(*Error); ok {
		return &Error{Msg: prefix + ": " + e.Msg, Hint: e.Hint, Err: e.Err}
	}
	return &Error{Msg: prefix + ": " + err.Error(), Err: err}
}

// revokeTags removes tags from every role that holds them and that the
// agent can sign, and publishes once. A tag that would stay in
// targets/releases or targets (the roles docker's pull reads) because the
// agent cannot sign that role is refused, and nothing is published.
func revokeTags(repo client.Repository, cs *CryptoService, gun string, tags ...string) error {
	signable, err := agentRoles(repo, cs)
	if err != nil {
		return err
	}
	// role -> tags it holds that we will remove
	changes := map[data.RoleName][]string{}
	var order []data.RoleName
	for _, tag := range tags {
		metas, err := repo.GetAllTargetMetadataByName(tag)
		if err != nil {
			return notaryError(gun, err)
		}
		for _, m := range metas {
			if !signable[m.Role.Name] {
				continue
			}
			if _, ok := changes[m.Role.Name]; !ok {
				order = append(order, m.Role.Name)
			}
			changes[m.Role.Name] = append(changes[m.Role.Name], tag)
		}
	}
	// A tag left in a role docker's pull reads would stay trusted: refuse
	// before publishing anything rather than report a half revocation.
	for _, tag := range tags {
		metas, err := repo.GetAllTargetMetadataByName(tag)
		if err != nil {
			return notaryError(gun, err)
		}
		for _, m := range metas {
			if (m.Role.Name == releasesRole || m.Role.Name == data.CanonicalTargetsRole) && !signable[m.Role.Name] {
				holder := "the holder of its key"
				if m.Role.Name == data.CanonicalTargetsRole {
					holder = "the holder of the repository key"
				}
				return &Error{
					Msg:  fmt.Sprintf("%s is also signed in %s, whose keys the agent does not hold, and docker would still trust it from there; nothing was revoked", tag, m.Role.Name),
					Hint: fmt.Sprintf("%s of %s must revoke it (or revoke it together); see `trust-agent inspect --pretty %s`", holder, m.Role.Name, gun),
				}
			}
		}
	}
	if len(order) == 0 {
		return &Error{
			Msg:  fmt.Sprintf("no valid signing keys for delegation roles holding %v in %s", tags, gun),
			Hint: "the agent holds no key of a role that signed the tag: `trust-agent key list` and `trust-agent inspect --pretty`",
		}
	}
	var delegations []data.RoleName
	for _, role := range order {
		for _, tag := range changes[role] {
			if err := repo.RemoveTarget(tag, role); err != nil {
				return notaryError(gun, err)
			}
		}
		if data.IsDelegation(role) {
			delegations = append(delegations, role)
		}
	}
	// One publish: the agent's delegation signatures name every role in it.
	if err := cs.SetDelegationRole(delegations...); err != nil {
		return err
	}
	if err := repo.Publish(); err != nil {
		return notaryError(gun, err)
	}
	return nil
}

// agentRoles are the targets roles whose keys the agent holds: targets
// with the repository key, delegations with one of their keys.
func agentRoles(repo client.Repository, cs *CryptoService) (map[data.RoleName]bool, error) {
	roles, err := repo.ListRoles()
	if err != nil {
		return nil, notaryError(cs.gun, err)
	}
	held := cs.ListAllKeys()
	m := map[data.RoleName]bool{}
	for _, r := range roles {
		if r.Name != data.CanonicalTargetsRole && !data.IsDelegation(r.Name) {
			continue
		}
		for _, id := range r.KeyIDs {
			if _, ok := held[id]; ok {
				m[r.Name] = true
				break
			}
		}
	}
	return m, nil
}
