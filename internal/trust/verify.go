package trust

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"
)

// defaultTag is what docker pulls when a reference names no tag.
const defaultTag = "latest"

// Verified is an image reference resolved to the digest its trust data
// signs.
type Verified struct {
	Ref    string // the reference as given
	GUN    string // the notary repository, e.g. docker.io/library/alpine
	Tag    string // the signed tag (for a digest reference: a tag that signs it)
	Digest string // "sha256:<hex>" of the manifest
	Size   int64  // the manifest's size in bytes, as signed
	Role   string // where the signature was found: "targets/releases" or "targets"
}

// Pinned returns the reference to pull: GUN@Digest.
func (v *Verified) Pinned() string { return v.GUN + "@" + v.Digest }

// VerifyOptions are Verify's.
type VerifyOptions struct {
	Options
	// Ref is REPO[:TAG][@DIGEST].
	Ref string
}

// Verify resolves o.Ref to its trusted digest as docker did before v29 when
// content trust was enabled: a tag (default "latest") is looked up in
// targets/releases first, then targets, and its SHA-256 is the digest; a
// tag signed only into other delegations does not count. A digest reference
// passes when some released tag signs that digest; a reference with both a
// tag and a digest passes when the tag signs that digest.
func Verify(ctx context.Context, vo VerifyOptions) (*Verified, error) {
	opts, ref := vo.Options, vo.Ref
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	opts.requireFresh = true
	repo, err := openRepo(ctx, opts, r, nil, actionsPull...)
	if err != nil {
		return nil, err
	}
	if r.tag == "" && r.digest != "" {
		return verifyDigest(opts, repo, r)
	}
	tag := r.tag
	if tag == "" {
		tag = defaultTag
	}
	t, err := repo.GetTargetByName(tag, releasesRole, data.CanonicalTargetsRole)
	if err != nil {
		return nil, verifyError(opts, r, err)
	}
	if t.Role != releasesRole && t.Role != data.CanonicalTargetsRole {
		return nil, notaryError(r.gun.String(), client.ErrNoSuchTarget(tag))
	}
	v, err := verified(r, t)
	if err != nil {
		return nil, err
	}
	if r.digest != "" && r.digest != v.Digest {
		return nil, &Error{
			Msg:  fmt.Sprintf("%s is signed for %s, not %s", tag, v.Digest, r.digest),
			Hint: "pull by the signed digest, or ask the signer whether " + r.digest + " should be signed",
		}
	}
	return v, nil
}

// verifyDigest finds a released tag that signs r.digest.
func verifyDigest(opts Options, repo client.Repository, r imageRef) (*Verified, error) {
	targets, err := repo.ListTargets(releasesRole, data.CanonicalTargetsRole)
	if err != nil {
		return nil, verifyError(opts, r, err)
	}
	var matches []*client.TargetWithRole
	for _, t := range targets {
		if t.Role != releasesRole && t.Role != data.CanonicalTargetsRole {
			continue
		}
		if h, ok := t.Hashes[notary.SHA256]; ok && "sha256:"+hex.EncodeToString(h) == r.digest {
			matches = append(matches, t)
		}
	}
	if len(matches) == 0 {
		return nil, &Error{
			Msg:  fmt.Sprintf("no signed tag of %s has digest %s", r.gun, r.digest),
			Hint: "list the signed tags with: trust-agent inspect --pretty " + r.gun.String(),
		}
	}
	sort.Slice(matches, func(i, j int) bool { return naturalLess(matches[i].Name, matches[j].Name) })
	return verified(r, matches[0])
}

func verified(r imageRef, t *client.TargetWithRole) (*Verified, error) {
	h, ok := t.Hashes[notary.SHA256]
	if !ok || len(h) == 0 {
		return nil, &Error{
			Msg:  "no valid hash, expecting sha256",
			Hint: "the signer must sign the tag with a SHA-256 hash",
			Err:  errors.New("target " + t.Name + " has no sha256 hash"),
		}
	}
	return &Verified{
		Ref:    r.original,
		GUN:    r.gun.String(),
		Tag:    t.Name,
		Digest: "sha256:" + hex.EncodeToString(h),
		Size:   t.Length,
		Role:   t.Role.String(),
	}, nil
}

// verifyError words a failed lookup; an unreachable server is a refusal to
// answer from the cache unless opts.Offline.
func verifyError(opts Options, r imageRef, err error) error {
	if !opts.Offline && unreachable(err) {
		return staleError(err)
	}
	return notaryError(r.gun.String(), err)
}
