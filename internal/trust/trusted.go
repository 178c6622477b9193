package trust

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
)

// Trust is where a repository's current metadata trusts a key: the roles
// that list it.
type Trust struct {
	GUN   string
	Roles []string
}

// TrustedByOptions are TrustedBy's.
type TrustedByOptions struct {
	Options
	// PublicKey is the key to look for, PKIX DER.
	PublicKey []byte
}

// TrustedBy lists the repositories whose cached TUF metadata (the cache
// docker and trust-agent share under the trust directory, as the last
// inspect, sign or verify saw it) trusts the public key pub (PKIX DER):
// as a root or targets key in root.json, or as a delegation key in
// targets.json (pub is o.PublicKey). It reads no network: run inspect
// first for fresh data.
func TrustedBy(to TrustedByOptions) ([]Trust, error) {
	o, pub := to.Options, to.PublicKey
	dir, err := o.trustDir()
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, tufDir)
	var out []Trust
	err = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || d.Name() != "root.json" || filepath.Base(filepath.Dir(path)) != "metadata" {
			return nil
		}
		meta := filepath.Dir(path)
		gun := filepath.ToSlash(strings.TrimPrefix(filepath.Dir(meta), base+string(filepath.Separator)))
		roles := rolesTrusting(meta, pub)
		if len(roles) > 0 {
			out = append(out, Trust{GUN: gun, Roles: roles})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].GUN < out[j].GUN })
	return out, err
}

// rolesTrusting reads root.json and targets.json in meta and returns the
// roles whose keys include pub.
func rolesTrusting(meta string, pub []byte) []string {
	var roles []string
	match := func(keys data.Keys, ids []string) bool {
		for _, id := range ids {
			if der, err := publicKeyDER(keys[id]); err == nil && string(der) == string(pub) {
				return true
			}
		}
		return false
	}
	var root struct {
		Signed data.Root `json:"signed"`
	}
	if readJSON(filepath.Join(meta, "root.json"), &root) == nil {
		names := make([]string, 0, len(root.Signed.Roles))
		for name := range root.Signed.Roles {
			names = append(names, string(name))
		}
		sort.Strings(names)
		for _, name := range names {
			if match(root.Signed.Keys, root.Signed.Roles[data.RoleName(name)].KeyIDs) {
				roles = append(roles, name)
			}
		}
	}
	var targets struct {
		Signed data.Targets `json:"signed"`
	}
	if readJSON(filepath.Join(meta, "targets.json"), &targets) == nil {
		for _, r := range targets.Signed.Delegations.Roles {
			if match(targets.Signed.Delegations.Keys, r.KeyIDs) {
				roles = append(roles, r.Name.String())
			}
		}
	}
	return roles
}

// maxCachedMetadata bounds what TrustedBy reads of one cached file.
const maxCachedMetadata = 64 << 20

func readJSON(path string, v any) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() > maxCachedMetadata {
		return errors.New("trust: cached metadata too large")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// CachedExpiryOptions are CachedExpiry's.
type CachedExpiryOptions struct {
	Options
	// GUN is the repository.
	GUN string
}

// CachedExpiry returns when o.GUN's cached root, targets and snapshot
// metadata expire (the cache docker and trust-agent share, as the last
// inspect, sign or verify saw it); roles without a cached file are left
// out. It reads no network.
func CachedExpiry(co CachedExpiryOptions) (map[string]time.Time, error) {
	o, gun := co.Options, co.GUN
	dir, err := o.trustDir()
	if err != nil {
		return nil, err
	}
	meta := filepath.Join(dir, tufDir, filepath.FromSlash(gun), "metadata")
	out := map[string]time.Time{}
	for _, role := range []string{"root", "targets", "snapshot"} {
		var doc struct {
			Signed struct {
				Expires time.Time `json:"expires"`
			} `json:"signed"`
		}
		if readJSON(filepath.Join(meta, role+".json"), &doc) == nil && !doc.Signed.Expires.IsZero() {
			out[role] = doc.Signed.Expires
		}
	}
	return out, nil
}
