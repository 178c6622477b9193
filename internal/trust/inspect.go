package trust

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"
)

// releasedRoleName is how docker names a signature by the repository's own
// targets key (or the releases delegation) rather than a named signer.
const releasedRoleName = "Repo Admin"

// releasesRole is the delegation docker signs into, and reads first.
var releasesRole = data.RoleName(path.Join(data.CanonicalTargetsRole.String(), "releases"))

// Repository is what `docker trust inspect` shows for one reference; it
// marshals to exactly docker's JSON.
type Repository struct {
	Name               string      // the reference as given
	SignedTags         []SignedTag // released tags, in natural order
	Signers            []Signer    // delegations other than releases
	AdministrativeKeys []Signer    // "Root" and "Repository"
}

// SignedTag is a tag signed into targets or targets/releases.
type SignedTag struct {
	SignedTag string
	Digest    string   // hex SHA-256 of the manifest, without "sha256:"
	Signers   []string // the other delegations that signed the same digest, or "Repo Admin"
}

// Signer is a named signer (a delegation) or an administrative role.
type Signer struct {
	Name string `json:",omitempty"`
	Keys []Key  `json:",omitempty"`
}

// Key is a key ID: canonical for delegations and the targets key, the
// certificate's ID for root keys.
type Key struct {
	ID string `json:",omitempty"`
}

// InspectOptions are Inspect's and InspectPretty's.
type InspectOptions struct {
	Options
	// Refs are the references to inspect (REPO or REPO:TAG).
	Refs []string
	// Out is where InspectPretty writes; Inspect returns its result.
	Out io.Writer
}

// Inspect reads the trust data of each reference as `docker trust inspect`
// does: a reference with a tag shows that tag, one without shows every tag.
// It inspects every reference and returns those that worked, in order, and
// the failures joined. Write them with WriteJSON.
func Inspect(ctx context.Context, o InspectOptions) ([]Repository, error) {
	opts, refs := o.Options, o.Refs
	repos := []Repository{}
	var errs []error
	for _, r := range refs {
		repo, err := inspectOne(ctx, opts, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		repos = append(repos, *repo)
	}
	return repos, errors.Join(errs...)
}

// WriteJSON writes repos as `docker trust inspect` does: an array indented
// by four spaces and a newline, "[]" when empty.
func WriteJSON(w io.Writer, repos []Repository) error {
	if len(repos) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	// Marshal each element on its own and join, as docker's inspector does.
	var raw bytes.Buffer
	raw.WriteByte('[')
	for i, r := range repos {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("trust: encode %s: %w", r.Name, err)
		}
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.Write(b)
	}
	raw.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Bytes(), "", "    "); err != nil {
		return fmt.Errorf("trust: indent: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// trustInfo is what docker's lookupTrustInfo gathers for one reference.
type trustInfo struct {
	rows        []SignedTag // signers not yet defaulted to "Repo Admin"
	adminRoles  []client.RoleWithSignatures
	delegations []data.Role
}

func inspectOne(ctx context.Context, opts Options, remote string) (*Repository, error) {
	info, err := lookupTrustInfo(ctx, opts, remote)
	if err != nil {
		return nil, err
	}
	repo := &Repository{Name: remote, SignedTags: info.rows, Signers: []Signer{}, AdministrativeKeys: []Signer{}}
	for i, row := range repo.SignedTags {
		if len(row.Signers) == 0 {
			repo.SignedTags[i].Signers = []string{releasedRoleName}
		}
	}
	for name, ids := range delegationKeys(info.delegations) {
		repo.Signers = append(repo.Signers, Signer{Name: name, Keys: keyList(ids)})
	}
	sort.Slice(repo.Signers, func(i, j int) bool { return repo.Signers[i].Name > repo.Signers[j].Name })
	for _, role := range info.adminRoles {
		switch role.Name {
		case data.CanonicalRootRole:
			repo.AdministrativeKeys = append(repo.AdministrativeKeys, Signer{Name: "Root", Keys: keyList(role.KeyIDs)})
		case data.CanonicalTargetsRole:
			repo.AdministrativeKeys = append(repo.AdministrativeKeys, Signer{Name: "Repository", Keys: keyList(role.KeyIDs)})
		}
	}
	sort.Slice(repo.AdministrativeKeys, func(i, j int) bool {
		return repo.AdministrativeKeys[i].Name > repo.AdministrativeKeys[j].Name
	})
	return repo, nil
}

func keyList(ids []string) []Key {
	keys := []Key{}
	for _, id := range ids {
		keys = append(keys, Key{ID: id})
	}
	return keys
}

// lookupTrustInfo mirrors docker's: released signatures for the tag (all
// tags without one), the administrative roles and the delegations.
func lookupTrustInfo(ctx context.Context, opts Options, remote string) (*trustInfo, error) {
	ref, err := parseRef(remote)
	if err != nil {
		return nil, err
	}
	repo, err := openRepo(ctx, opts, ref, nil, actionsPull...)
	if err != nil {
		return nil, err
	}
	targets, err := repo.GetAllTargetMetadataByName(ref.tag)
	if err != nil {
		var noTarget client.ErrNoSuchTarget
		if !errors.As(err, &noTarget) {
			return nil, &Error{
				Msg:  fmt.Sprintf("no signatures or cannot access %s", remote),
				Hint: accessHint(remote, err),
				Err:  err,
			}
		}
	}
	roles, err := repo.ListRoles()
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("no signers for %s", remote), Hint: accessHint(remote, err), Err: err}
	}
	// Docker ignores a failure here and shows no signers.
	delegations, _ := repo.GetDelegationRoles()
	return &trustInfo{rows: matchReleasedSignatures(targets), adminRoles: roles, delegations: delegations}, nil
}

// accessHint turns notary's reason into a next step.
func accessHint(remote string, err error) string {
	if h := unauthorizedHint(remote, err); h != "" {
		return h
	}
	var notExist client.ErrRepositoryNotExist
	if errors.As(err, &notExist) {
		return "the repository has no trust data on this server: check the name, the server (" + ServerEnv + ") and that it has been signed"
	}
	return "notary said: " + err.Error() + "; check the repository name, the server (" + ServerEnv + ") and its TLS CA (DOCKER_CONFIG/tls/<host:port>/ca.crt)"
}

// delegationKeys maps signer names to their canonical key IDs, leaving out
// releases and the top-level roles, as docker does.
func delegationKeys(roles []data.Role) map[string][]string {
	m := make(map[string][]string)
	for _, r := range roles {
		switch r.Name {
		case releasesRole, data.CanonicalRootRole, data.CanonicalSnapshotRole, data.CanonicalTargetsRole, data.CanonicalTimestampRole:
			continue
		}
		m[roleToSigner(r.Name)] = r.KeyIDs
	}
	return m
}

// matchReleasedSignatures keeps the tag and digest pairs signed into
// targets or targets/releases and lists the other roles that signed the same
// pair, sorted by tag in natural order (docker's matchReleasedSignatures).
func matchReleasedSignatures(all []client.TargetSignedStruct) []SignedTag {
	type key struct{ tag, digest string }
	released := map[key][]string{}
	for _, t := range all {
		if isReleased(t.Role.Name) {
			released[key{t.Target.Name, hex.EncodeToString(t.Target.Hashes[notary.SHA256])}] = []string{}
		}
	}
	for _, t := range all {
		k := key{t.Target.Name, hex.EncodeToString(t.Target.Hashes[notary.SHA256])}
		if signers, ok := released[k]; ok && !isReleased(t.Role.Name) {
			released[k] = append(signers, roleToSigner(t.Role.Name))
		}
	}
	rows := []SignedTag{}
	for k, signers := range released {
		rows = append(rows, SignedTag{SignedTag: k.tag, Digest: k.digest, Signers: signers})
	}
	// Docker's sort is not stable for one tag with two digests; break the tie
	// by digest so our output is at least deterministic.
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].SignedTag == rows[j].SignedTag {
			return rows[i].Digest < rows[j].Digest
		}
		return naturalLess(rows[i].SignedTag, rows[j].SignedTag)
	})
	return rows
}

func isReleased(role data.RoleName) bool {
	return role == data.CanonicalTargetsRole || role == releasesRole
}

// roleToSigner turns a TUF role into docker's signer name.
func roleToSigner(role data.RoleName) string {
	if isReleased(role) {
		return releasedRoleName
	}
	return strings.TrimPrefix(role.String(), "targets/")
}
