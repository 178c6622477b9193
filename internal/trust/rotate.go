package trust

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

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
	// CopyTo names more backends that hold the new root key too (root
	// custody); nil keeps the current root key's backends.
	CopyTo []string
	// Out gets the progress and success messages.
	Out io.Writer
	// Agent holds (and makes) the keys.
	Agent agent.Agent
	// Role is the base role to rotate (root, targets, snapshot); Repo the
	// repository.
	Role string
	Repo string
}

// Rotate replaces the key of base role o.Role of repository o.Repo, as notary key rotate
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
// A rotation whose publish failed left its new key on the hardware; the
// same command reuses that key instead of making another: a targets or
// snapshot key bound to the repository, or a root key on the chosen backend
// certified for no other repository, that no version of the repository's
// root.json ever listed (keys rotated out are never reused).
//
// Keys rotated out stay on the hardware. Success is reported to o.Out.
func Rotate(ctx context.Context, o RotateOptions) error {
	a, role, repoRef := o.Agent, o.Role, o.Repo
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
	// Read the current root first, so that the old root key is known to
	// sign the transition, and a missing repository or a backend that
	// cannot take the new key fails before anything is asked or made. The
	// root history (every version's keys, from the server) is read once.
	var roles []client.RoleWithSignatures
	var keys []agent.KeyInfo
	var hist rootKeys
	if r == data.CanonicalRootRole || !serverManaged { // a key the agent makes
		if roles, err = repo.ListRoles(); err != nil {
			return notaryError(gun, err)
		}
		if keys, err = a.List(ctx); err != nil {
			return fmt.Errorf("trust: listing the agent's keys: %w", err)
		}
		hist = rootHistory(ctx, o.Options, ref)
	}
	if r != data.CanonicalRootRole {
		var reuse []string
		if !serverManaged {
			k, ok := unusedRotationKey(roles, keys, hist, ref, agentRole(r), "")
			if ok {
				fmt.Fprintf(out, "Reusing %s key %s on %s, made by an earlier rotation that was not published\n", r, k.ID, k.Backend)
				reuse = []string{k.ID}
			}
		}
		if err := repo.RotateKey(r, serverManaged, reuse); err != nil {
			return notaryError(gun, err)
		}
		fmt.Fprintf(out, "Successfully rotated %s key for repository %s\n", r, gun)
		return nil
	}

	backend, copies := o.Backend, o.CopyTo
	if current := rootKeysOf(keys, roles, gun, hist.rootPubs); backend == "" && len(current) > 0 {
		backend = current[0].Backend
		// A root key held on several backends (root custody) is
		// replaced by one held on the same backends.
		if copies == nil {
			for _, c := range current[1:] {
				if c.ID == current[0].ID && c.Backend != backend {
					copies = append(copies, c.Backend)
				}
			}
		}
	}
	info, reused := unusedRotationKey(roles, keys, hist, ref, agent.RoleRoot, backend)
	if !reused {
		if err := rootRoomOn(backend, gun, repoRef, keys); err != nil {
			return err
		}
	}
	if !yes {
		what := "makes a new root key on the hardware"
		switch {
		case reused:
			what = fmt.Sprintf("makes root key %s on %s (left by an earlier rotation that was not published) the new root key", info.ID, info.Backend)
		case backend != "":
			what = "makes a new root key on " + backend
		}
		prompt := fmt.Sprintf("Rotating the root key of %s %s and signs the new root with both the old and the new key. Keep the new key as safe as the old. Are you sure you want to continue? [y/N] ", repoRef, what)
		if confirm == nil || !confirm(prompt) {
			fmt.Fprintf(out, "\nAborting action.\n")
			return nil
		}
	}
	if reused {
		fmt.Fprintf(out, "Reusing root key %s on %s (%s), made by an earlier rotation that was not published\n", info.ID, info.Backend, info.Location)
	} else {
		info, err = a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}, Backend: backend, Copies: copies})
		if err != nil {
			return fmt.Errorf("trust: generating a root key on the agent: %w", err)
		}
		fmt.Fprintf(out, "Generated a new root key on %s (%s): %s\n", info.Backend, info.Location, info.ID)
		for _, c := range copies {
			fmt.Fprintf(out, "The same root key is held on %s too (made in the agent's memory, written to each, then wiped)\n", c)
		}
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
	fmt.Fprintf(out, "New root key %s on %s (certificate %s)\n", info.ID, info.Backend, cert.ID())
	return nil
}

// rootKeysOf are the agent's keys that the current root.json lists as root
// keys: by canonical ID, by the ID of their certificate for gun, or by
// public key (rootPubs, PKIX DER: a key loaded from docker's files is
// listed under docker's certificate).
func rootKeysOf(keys []agent.KeyInfo, roles []client.RoleWithSignatures, gun string, rootPubs map[string]bool) []agent.KeyInfo {
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
		if rootPubs[string(k.PublicKey)] {
			cur = append(cur, k)
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

// rootRoomOn refuses a new root key on a backend that holds as many root
// keys as it can (Abilities.MaxRootKeys: a PIV card holds one, in slot
// 9c); nothing falls back to another backend. A backend that holds no key
// yet has room: it holds no root key either.
func rootRoomOn(backend, gun, repoRef string, keys []agent.KeyInfo) error {
	max := 0
	var held []string
	for _, k := range keys {
		if k.Backend != backend {
			continue
		}
		max = k.Abilities.MaxRootKeys
		if k.Role == agent.RoleRoot {
			held = append(held, k.ID)
		}
	}
	if max == 0 || len(held) < max {
		return nil
	}
	return &Error{
		Msg:  fmt.Sprintf("cannot make a new root key for %s on %s: it holds at most %d root key(s) (a PIV card: one, in slot 9c), and it holds %s", gun, backend, max, strings.Join(held, ", ")),
		Hint: "rotate onto another card or token with --backend NAME (see `trust-agent status`): trust-agent key rotate root " + repoRef + " --backend NAME",
	}
}

// agentRole is the agent's role for a base TUF role.
func agentRole(r data.RoleName) agent.Role {
	switch r {
	case data.CanonicalRootRole:
		return agent.RoleRoot
	case data.CanonicalTargetsRole:
		return agent.RoleTargets
	case data.CanonicalSnapshotRole:
		return agent.RoleSnapshot
	}
	return agent.RoleDelegation
}

// unusedRotationKey finds a key of role that an earlier rotation of ref
// made but never published, so that retrying a failed rotation does not
// leave another key behind each time: a targets or snapshot key bound to
// the repository, or a root key (on backend, if given) with no certificate
// for another repository, that neither the current root.json nor any
// earlier version of it lists. When the server cannot give the earlier
// versions, only a root key with no certificate at all qualifies (a key
// rotated out is never reused).
func unusedRotationKey(roles []client.RoleWithSignatures, keys []agent.KeyInfo, hist rootKeys, ref imageRef, role agent.Role, backend string) (agent.KeyInfo, bool) {
	gun := ref.gun.String()
	// hist, plus the current root's key IDs (ListRoles gives them even
	// when the server gave no history).
	used := rootKeys{ids: maps.Clone(hist.ids), pubs: hist.pubs}
	complete := hist.complete
	for _, r := range roles {
		for _, id := range r.KeyIDs {
			used.ids[id] = true
		}
	}
	var found []agent.KeyInfo
	for _, k := range keys {
		if k.Role != role || backend != "" && k.Backend != backend {
			continue
		}
		if role == agent.RoleRoot {
			if otherRepo := slices.ContainsFunc(k.Certs, func(c agent.Cert) bool { return c.GUN != gun }); otherRepo || !complete && len(k.Certs) > 0 {
				continue
			}
		} else if k.GUN != gun || !complete {
			continue
		}
		if used.listed(k, gun) {
			continue
		}
		found = append(found, k)
	}
	if len(found) == 0 {
		return agent.KeyInfo{}, false
	}
	// A root key already certified for this repository is the one a
	// failed rotation of it made.
	slices.SortStableFunc(found, func(x, y agent.KeyInfo) int { return len(y.Certs) - len(x.Certs) })
	return found[0], true
}

// maxRootVersions bounds the walk through a repository's root history.
const maxRootVersions = 1000

// rootKeys is what a repository's root.json versions listed: every key ID
// and every public key (PKIX DER), whatever form root.json gave it in.
// Public keys matter because one key has many IDs: its canonical ID on
// the agent, and the ID of each certificate made for it (a key loaded
// from docker's files comes with docker's certificate, which the agent
// never stored).
type rootKeys struct {
	ids  map[string]bool
	pubs map[string]bool
	// rootPubs are the root role's public keys in the current root.json.
	rootPubs map[string]bool
	// complete is false when the server could not give every version.
	complete bool
}

// listed reports whether root.json ever listed key k, under any ID.
func (u rootKeys) listed(k agent.KeyInfo, gun string) bool {
	return u.pubs[string(k.PublicKey)] || slices.ContainsFunc(keyIDsFor(k, gun), func(id string) bool { return u.ids[id] })
}

// rootHistory reads every version of ref's root.json the server gives
// (VERSION.root, then the current root.json).
func rootHistory(ctx context.Context, o Options, ref imageRef) rootKeys {
	u := rootKeys{ids: map[string]bool{}, pubs: map[string]bool{}, rootPubs: map[string]bool{}}
	server, err := o.server(ref.index, ref.official)
	if err != nil {
		return u
	}
	rt, err := notaryTransport(ctx, o, server, ref, actionsPull...)
	if err != nil {
		return u
	}
	remote, err := storage.NewNotaryServerStore(server, ref.gun, rt)
	if err != nil {
		return u
	}
	read := func(name string) (*data.Root, error) {
		b, err := remote.GetSized(name, notary.MaxDownloadSize)
		if err != nil {
			return nil, err
		}
		var signed data.Signed
		if err := json.Unmarshal(b, &signed); err != nil {
			return nil, err
		}
		var root data.Root
		if err := json.Unmarshal(*signed.Signed, &root); err != nil {
			return nil, err
		}
		for id, k := range root.Keys {
			u.ids[id] = true
			if der, err := publicKeyDER(k); err == nil {
				u.pubs[string(der)] = true
			}
		}
		return &root, nil
	}
	if cur, err := read(data.CanonicalRootRole.String()); err == nil {
		if role, ok := cur.Roles[data.CanonicalRootRole]; ok {
			for _, id := range role.KeyIDs {
				if der, err := publicKeyDER(cur.Keys[id]); err == nil {
					u.rootPubs[string(der)] = true
				}
			}
		}
	}
	for v := 1; v <= maxRootVersions; v++ {
		_, err := read(fmt.Sprintf("%d.%s", v, data.CanonicalRootRole))
		var notFound storage.ErrMetaNotFound
		if errors.As(err, &notFound) && v > 1 {
			u.complete = true
			return u
		}
		if err != nil {
			return u
		}
	}
	return u
}

// publicKeyDER is a TUF public key as PKIX DER: the key itself, or the
// key of the certificate an x509 key type carries.
func publicKeyDER(k data.PublicKey) ([]byte, error) {
	if k == nil {
		return nil, errors.New("trust: no key")
	}
	if !strings.HasSuffix(k.Algorithm(), "-x509") {
		return k.Public(), nil
	}
	cert, err := utils.LoadCertFromPEM(k.Public())
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(cert.PublicKey)
}
