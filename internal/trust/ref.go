package trust

import (
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/trust-agent/trust-agent/internal/imageref"
)

// imageRef is a parsed image reference and the repository it names.
type imageRef struct {
	original string         // as the user typed it; docker prints this
	named    imageref.Named // fully qualified, e.g. docker.io/library/alpine:3
	gun      data.GUN       // the notary GUN: the fully qualified repository name
	index    string         // registry host, e.g. docker.io or 127.0.0.1:5000
	official bool           // Docker Hub
	tag      string         // "" when the reference has no tag
	digest   string         // "" when the reference has no digest, else "sha256:<hex>"
}

// parseRef parses an image reference as docker's
// reference.ParseNormalizedNamed does (distribution/reference v0.6, which
// docker 28 uses; internal/imageref): a first component with upper-case
// letters is a registry host, not a Docker Hub user. A missing tag stays
// missing: docker trust inspect then shows every tag.
func parseRef(s string) (imageRef, error) {
	named, err := imageref.ParseNormalizedNamed(s)
	if err != nil {
		return imageRef{}, &Error{
			Msg:  err.Error(),
			Hint: "give an image reference such as registry.example.com/team/app:1.0",
			Err:  err,
		}
	}
	r := imageRef{
		original: s,
		named:    named,
		gun:      data.GUN(named.Name()),
		index:    named.Domain(),
		tag:      named.Tag(),
		digest:   named.Digest(),
	}
	r.official = r.index == imageref.DefaultDomain
	return r, nil
}
