package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
)

// A delegation's metadata (targets/releases.json, targets/NAME.json) is
// valid while the signatures on it from keys its parent (targets.json)
// lists meet the role's threshold. Changing the keys without re-signing the
// metadata can break that: docker's `signer remove` takes a signer's keys
// out of targets/releases but leaves releases.json signed by them. From
// then on notary loads no targets from the role (docker says the
// repository is "unpullable") and, worse, starts a new releases.json at
// version 1 for the next signature, which the server refuses ("trust server
// rejected operation"): the repository cannot be signed any more. Notary's
// remedy is `notary witness`: re-sign the metadata as it is with a key the
// role still lists. This file is trust-agent's witness, and the checks that
// sign and signer remove use so that they never leave a repository in that
// state, or say how to get out of it.

// roleState is what a publish needs to know of one delegation role.
type roleState struct {
	role data.Role
	// published: the repository's snapshot lists metadata for the role,
	// with meta its length and hashes.
	published bool
	meta      data.FileMeta
	// valid: that metadata loaded, its signatures meeting the threshold;
	// sigs are its signatures.
	valid bool
	sigs  []data.Signature
}

// broken reports metadata that exists but is not signed by enough of the
// keys the role lists: notary ignores it, and cannot publish the role.
func (s *roleState) broken() bool { return s.published && !s.valid }

// delegationStates returns the state of every delegation role of repo
// (opened on ref with o): from listed, the roles an update in this command
// already returned, else updating repo from the server. Within a command
// both read the same metadata (the timestamp is fetched once per command).
func delegationStates(o Options, ref imageRef, repo client.Repository, listed []client.RoleWithSignatures) (map[data.RoleName]*roleState, error) {
	roles := listed
	if roles == nil {
		var err error
		if roles, err = repo.ListRoles(); err != nil {
			return nil, notaryError(ref.gun.String(), err)
		}
	}
	published, err := publishedRoles(o, ref)
	if err != nil {
		return nil, err
	}
	states := map[data.RoleName]*roleState{}
	for _, r := range roles {
		if !data.IsDelegation(r.Name) {
			continue
		}
		meta, ok := published[r.Name]
		states[r.Name] = &roleState{role: r.Role, published: ok, meta: meta, valid: len(r.Signatures) > 0, sigs: r.Signatures}
	}
	return states, nil
}

// publishedRoles lists the roles whose metadata the repository's snapshot
// names. Notary hands out only the roles it could load, so the snapshot is
// read from the TUF cache, where notary wrote it after verifying it in the
// command's last update (repo.ListRoles, or an update since: all of one
// command's updates read the same timestamp): the snapshot
// loads only when its hash matches the server's signed timestamp.
func publishedRoles(o Options, ref imageRef) (map[data.RoleName]data.FileMeta, error) {
	trustDir, err := o.trustDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(trustDir, tufDir, filepath.FromSlash(ref.gun.String()), "metadata", data.CanonicalSnapshotRole.String()+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing published yet (a repository initialised in this command)
	}
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("reading the snapshot of %s from the trust cache: %v", ref.gun, err), Hint: "check that the trust directory is readable, and run the command again", Err: err}
	}
	var snap struct {
		Signed struct {
			Meta map[string]data.FileMeta `json:"meta"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("the cached snapshot of %s (%s) is not TUF metadata: %v", ref.gun, path, err), Hint: "remove the file and run the command again", Err: err}
	}
	roles := map[data.RoleName]data.FileMeta{}
	for name, meta := range snap.Signed.Meta {
		roles[data.RoleName(name)] = meta
	}
	return roles, nil
}

// ErrWitnessNeeded is the cause of the error sign gives for a delegation
// whose metadata is no longer signed by the keys the role lists: notary
// cannot publish the role until it is re-signed (SignerWitness).
var ErrWitnessNeeded = errors.New("trust: delegation metadata is not signed by the keys its role lists")

// witnessNeeded is the error for publishing into role of gun while its
// metadata is broken.
func witnessNeeded(gun string, role data.RoleName) error {
	return &Error{
		Msg: fmt.Sprintf("%s of %s is not signed by the keys the role now lists (the keys that signed it last were removed from the role, by signer remove or notary delegation remove): "+
			"its tags are not trusted, and the trust server would refuse the next version of it", role, gun),
		Hint: "re-sign it as it is with a key the role lists, after checking that its tags are ones you want to keep trusting: trust-agent signer witness " + gun + " " + role.String(),
		Err:  ErrWitnessNeeded,
	}
}

// heldKeys returns the IDs of the agent's keys.
func heldKeys(ctx context.Context, a agent.Agent) (map[string]bool, error) {
	keys, err := a.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, k := range keys {
		ids[k.ID] = true
	}
	return ids, nil
}

// countIn is how many of ids are in set.
func countIn(ids []string, set map[string]bool) int {
	n := 0
	for _, id := range ids {
		if set[id] {
			n++
		}
	}
	return n
}

// roleArg turns a witness argument into a delegation role: "releases",
// "alice", "targets/alice" (docker's signer names or notary's roles).
func roleArg(s string) (data.RoleName, error) {
	if !strings.HasPrefix(s, data.CanonicalTargetsRole.String()+"/") {
		s = data.CanonicalTargetsRole.String() + "/" + s
	}
	role := data.RoleName(s)
	if !data.IsDelegation(role) {
		return "", &Error{Msg: fmt.Sprintf("%q is not a delegation role", s), Hint: "name a signer (alice), releases, or a role like targets/alice"}
	}
	return role, nil
}

// WitnessOptions are SignerWitness's.
type WitnessOptions struct {
	Options
	// Agent holds the keys that re-sign.
	Agent agent.Agent
	// Repo is the repository; Roles the roles to re-sign (none: every one
	// that needs it and that the agent holds a key for).
	Repo  string
	Roles []string
	// Yes skips the question; else Confirm is asked (nil: refuse).
	Yes     bool
	Confirm func(prompt string) bool
	// Out gets progress, and the targets vouched for.
	Out io.Writer
}

// SignerWitness re-signs delegation roles (wo.Roles) of wo.Repo as they are with the
// agent's keys that each role lists (notary's witness), and publishes. It
// repairs a role whose metadata is still signed only by keys since removed
// from it, which notary otherwise ignores and cannot publish again; it
// thereby vouches for the targets in it, which are listed on wo.Out after. No
// roles: every role whose metadata needs it and that the agent holds a key
// for. Roles are signer names (alice), releases, or targets/NAME.
//
// Metadata that no longer verifies was checked by nobody: its tags are
// listed in a question (wo.Confirm) before anything is signed, unless wo.Yes; a
// "no" prints "Aborting action." and returns nil.
func SignerWitness(ctx context.Context, wo WitnessOptions) error {
	o, a, repoRef, roles, yes, confirm, out := wo.Options, wo.Agent, wo.Repo, wo.Roles, wo.Yes, wo.Confirm, wo.Out
	ref, err := parseRef(repoRef)
	if err != nil {
		return err
	}
	if ref.tag != "" || ref.digest != "" {
		return &Error{Msg: fmt.Sprintf("%s: give a repository, not a tag or digest", repoRef)}
	}
	gun := ref.gun.String()
	cs := NewCryptoService(a, gun).WithContext(ctx)
	repo, err := openRepo(ctx, o, ref, cs, actionsPushPull...)
	if err != nil {
		return err
	}
	states, err := delegationStates(o, ref, repo, nil)
	if err != nil {
		return err
	}
	held, err := heldKeys(ctx, a)
	if err != nil {
		return err
	}
	var todo []data.RoleName
	if len(roles) == 0 {
		var others []string
		for name, s := range states {
			switch {
			case !s.broken():
			case countIn(s.role.KeyIDs, held) >= s.role.Threshold:
				todo = append(todo, name)
			default:
				others = append(others, fmt.Sprintf("%s (a holder of %s)", name, strings.Join(s.role.KeyIDs, ", ")))
			}
		}
		sort.Slice(todo, func(i, j int) bool { return todo[i] < todo[j] })
		sort.Strings(others)
		if len(todo) == 0 {
			fmt.Fprintf(out, "Nothing to witness in %s with this agent's keys\n", repoRef)
			if len(others) > 0 {
				fmt.Fprintf(out, "Needing a witness by another signer: %s\n", strings.Join(others, "; "))
			}
			return nil
		}
	}
	for _, r := range roles {
		role, err := roleArg(r)
		if err != nil {
			return err
		}
		s, ok := states[role]
		switch {
		case !ok:
			return &Error{Msg: fmt.Sprintf("%s has no role %s", repoRef, role), Hint: "see the signers with `trust-agent inspect --pretty " + repoRef + "`"}
		case !s.published:
			return &Error{Msg: fmt.Sprintf("%s of %s has no metadata yet: there is nothing to witness", role, repoRef), Hint: "sign a tag into it instead: trust-agent sign " + repoRef + ":TAG"}
		case countIn(s.role.KeyIDs, held) < s.role.Threshold:
			return &Error{
				Msg:  fmt.Sprintf("the agent holds %d of the keys %s of %s lists (%s) and it needs %d", countIn(s.role.KeyIDs, held), role, repoRef, strings.Join(s.role.KeyIDs, ", "), s.role.Threshold),
				Hint: "run it with an agent that holds a key of the role (trust-agent key list), or add your key as a signer first (trust-agent signer add)",
			}
		}
		todo = append(todo, role)
	}
	if !yes {
		var b strings.Builder
		for _, role := range todo {
			if !states[role].broken() {
				continue
			}
			tags, err := unverifiedTargets(ctx, o, ref, role, states[role].meta)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s of %s is signed by none of the keys it lists, so nobody vouches for it now; witnessing it makes this agent's keys vouch for its tags:\n%s", role, repoRef, tags)
		}
		if b.Len() > 0 {
			b.WriteString("Are you sure you want to continue? [y/N] ")
			if confirm == nil || !confirm(b.String()) {
				fmt.Fprintf(out, "\nAborting action.\n")
				return nil
			}
		}
	}
	for _, role := range todo {
		fmt.Fprintf(out, "Witnessing %s of %s...\n", role, repoRef)
	}
	if _, err := repo.Witness(todo...); err != nil {
		return notaryError(gun, err)
	}
	if err := cs.SetDelegationRole(todo...); err != nil {
		return err
	}
	if err := repo.Publish(); err != nil {
		return notaryError(gun, err)
	}
	for _, role := range todo {
		fmt.Fprintf(out, "Successfully witnessed %s of %s\n", role, repoRef)
		if err := listRoleTargets(out, repo, gun, role); err != nil {
			return err
		}
	}
	return nil
}

// unverifiedTargets lists the tags in role's metadata, which notary
// would not load ("  TAG\tsha256:HEX" lines): fetched from the server and
// checked against the hashes the verified snapshot gives for it, so they
// are what a witness would sign (unless the repository changes before the
// publish, which prints what was signed).
func unverifiedTargets(ctx context.Context, o Options, ref imageRef, role data.RoleName, meta data.FileMeta) (string, error) {
	server, err := o.server(ref.index, ref.official)
	if err != nil {
		return "", err
	}
	rt, err := notaryTransport(ctx, o, server, ref, actionsPull...)
	if err != nil {
		return "", err
	}
	remote, err := storage.NewNotaryServerStore(server, ref.gun, rt)
	if err != nil {
		return "", &Error{Msg: fmt.Sprintf("invalid trust server URL %s: %v", server, err), Err: err}
	}
	raw, err := remote.GetSized(role.String(), meta.Length)
	if err != nil {
		return "", notaryError(ref.gun.String(), err)
	}
	if err := data.CheckHashes(raw, role.String(), meta.Hashes); err != nil {
		return "", &Error{Msg: fmt.Sprintf("%s of %s changed on the server while it was read: %v", role, ref.gun, err), Hint: "run the command again", Err: err}
	}
	var doc struct {
		Signed struct {
			Targets map[string]data.FileMeta `json:"targets"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", &Error{Msg: fmt.Sprintf("%s of %s is not TUF targets metadata: %v", role, ref.gun, err), Err: err}
	}
	names := make([]string, 0, len(doc.Signed.Targets))
	for name := range doc.Signed.Targets {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "  %s\tsha256:%x\n", name, doc.Signed.Targets[name].Hashes["sha256"])
	}
	if len(names) == 0 {
		b.WriteString("  (no tags)\n")
	}
	return b.String(), nil
}

// listRoleTargets writes the tags role itself signs, one "  TAG\tDIGEST"
// line each: what a witness has just vouched for.
func listRoleTargets(out io.Writer, repo client.Repository, gun string, role data.RoleName) error {
	targets, err := repo.ListTargets(role)
	if err != nil {
		return notaryError(gun, err)
	}
	sort.Slice(targets, func(i, j int) bool { return naturalLess(targets[i].Name, targets[j].Name) })
	for _, t := range targets {
		if t.Role == role {
			fmt.Fprintf(out, "  %s\tsha256:%x\n", t.Name, t.Hashes["sha256"])
		}
	}
	return nil
}
