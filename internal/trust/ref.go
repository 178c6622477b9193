package trust

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/docker/distribution/reference"
	"github.com/theupdateframework/notary/tuf/data"
)

// Docker Hub's names, as docker normalises them.
const (
	defaultDomain       = "docker.io"
	legacyDefaultDomain = "index.docker.io"
	officialRepoPrefix  = "library/"
)

// imageID matches a bare image ID, which is not a repository name.
var imageID = regexp.MustCompile(`^[a-f0-9]{64}$`)

// imageRef is a parsed image reference and the repository it names.
type imageRef struct {
	original string          // as the user typed it; docker prints this
	named    reference.Named // fully qualified, e.g. docker.io/library/alpine:3
	gun      data.GUN        // the notary GUN: the fully qualified repository name
	index    string          // registry host, e.g. docker.io or 127.0.0.1:5000
	official bool            // Docker Hub
	tag      string          // "" when the reference has no tag
	digest   string          // "" when the reference has no digest, else "sha256:<hex>"
}

// parseRef parses an image reference as docker's
// reference.ParseNormalizedNamed does (distribution/reference v0.6, which
// docker 28 uses): a first component with upper-case letters is a registry
// host, not a Docker Hub user. A missing tag stays missing: docker trust
// inspect then shows every tag.
func parseRef(s string) (imageRef, error) {
	named, err := parseNormalizedNamed(s)
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
		index:    reference.Domain(named),
	}
	r.official = r.index == defaultDomain
	if t, ok := named.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	return r, nil
}

func parseNormalizedNamed(s string) (reference.Named, error) {
	// Refuse a bare image ID before anything else, as docker does.
	if imageID.MatchString(s) {
		return nil, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remoteName, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(remoteName) != remoteName {
		return nil, errLowercase(remoteName)
	}
	ref, err := reference.Parse(domain + "/" + remainder)
	if err != nil {
		return nil, err
	}
	named, ok := ref.(reference.Named)
	if !ok {
		return nil, fmt.Errorf("reference %s has no name", ref.String())
	}
	return named, nil
}

type errLowercase string

func (e errLowercase) Error() string {
	return "invalid reference format: repository name (" + string(e) + ") must be lowercase"
}

// splitDockerDomain is distribution/reference v0.6's: the part before the
// first slash is a host when it has a dot or colon, is localhost, or has
// upper-case letters.
func splitDockerDomain(name string) (domain, remainder string) {
	i := strings.IndexRune(name, '/')
	if i == -1 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, remainder = defaultDomain, name
	} else {
		domain, remainder = name[:i], name[i+1:]
	}
	if domain == legacyDefaultDomain {
		domain = defaultDomain
	}
	if domain == defaultDomain && !strings.ContainsRune(remainder, '/') {
		remainder = officialRepoPrefix + remainder
	}
	return domain, remainder
}
