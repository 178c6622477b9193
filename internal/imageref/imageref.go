// Package imageref parses docker image references (a repository, a tag, a
// digest) exactly as docker's distribution/reference does (v2.7.1, the one
// in go.mod, for the grammar; v0.6, which docker 28 uses, for reading a
// first component with upper-case letters as a registry host), with the
// same errors. It exists so that the grammar is compiled on first use:
// distribution/reference compiles its regular expressions when the package
// is initialised, about 11,000 allocations and several milliseconds at
// every start of every binary that links it, parsing a reference or not.
// The differential fuzz test FuzzParseNormalizedNamed holds it to docker's
// own parser.
package imageref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Docker Hub's names, as docker normalises them.
const (
	DefaultDomain       = "docker.io"
	legacyDefaultDomain = "index.docker.io"
	officialRepoPrefix  = "library/"
)

// NameTotalLengthMax is the longest repository name docker accepts.
const NameTotalLengthMax = 255

// distribution/reference's errors, word for word.
var (
	ErrReferenceInvalidFormat = errors.New("invalid reference format")
	ErrNameContainsUppercase  = errors.New("repository name must be lowercase")
	ErrNameEmpty              = errors.New("repository name must have at least one component")
	ErrNameTooLong            = fmt.Errorf("repository name must not be more than %v characters", NameTotalLengthMax)
)

// The grammar, as distribution/reference v2.7.1 writes it (regexp.go).
const (
	alphaNumeric    = `[a-z0-9]+`
	separator       = `(?:[._]|__|[-]*)`
	nameComponent   = alphaNumeric + `(?:(?:` + separator + alphaNumeric + `)+)?`
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domain          = domainComponent + `(?:(?:\.` + domainComponent + `)+)?` + `(?::[0-9]+)?`
	tag             = `[\w][\w.-]{0,127}`
	digestPattern   = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
	path            = nameComponent + `(?:(?:/` + nameComponent + `)+)?`
	name            = `(?:` + domain + `/)?` + path
)

var (
	referenceRegexp = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(` + name + `)(?::(` + tag + `))?(?:@(` + digestPattern + `))?$`)
	})
	anchoredNameRegexp = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:(` + domain + `)/)?(` + path + `)$`)
	})
	anchoredIdentifierRegexp = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-f0-9]{64}$`)
	})
)

// Named is a parsed reference with a name, and maybe a tag and a digest.
type Named struct {
	domain, path, tag, digest string
}

// Name is the repository: the domain, if any, and the path.
func (n Named) Name() string {
	if n.domain == "" {
		return n.path
	}
	return n.domain + "/" + n.path
}

// Domain is the registry host (and port), or "".
func (n Named) Domain() string { return n.domain }

// Path is the repository's path within its registry.
func (n Named) Path() string { return n.path }

// Tag is the tag, or "".
func (n Named) Tag() string { return n.tag }

// Digest is the digest ("sha256:<hex>"), or "".
func (n Named) Digest() string { return n.digest }

// String is the reference as docker prints it: NAME[:TAG][@DIGEST].
func (n Named) String() string {
	s := n.Name()
	if n.tag != "" {
		s += ":" + n.tag
	}
	if n.digest != "" {
		s += "@" + n.digest
	}
	return s
}

// Parse parses s as distribution/reference's Parse does, for a reference
// that names a repository.
func Parse(s string) (Named, error) {
	m := referenceRegexp().FindStringSubmatch(s)
	if m == nil {
		if s == "" {
			return Named{}, ErrNameEmpty
		}
		if referenceRegexp().FindStringSubmatch(strings.ToLower(s)) != nil {
			return Named{}, ErrNameContainsUppercase
		}
		return Named{}, ErrReferenceInvalidFormat
	}
	if len(m[1]) > NameTotalLengthMax {
		return Named{}, ErrNameTooLong
	}
	n := Named{path: m[1], tag: m[2]}
	if nm := anchoredNameRegexp().FindStringSubmatch(m[1]); len(nm) == 3 {
		n.domain, n.path = nm[1], nm[2]
	}
	if m[3] != "" {
		d, err := digest.Parse(m[3])
		if err != nil {
			return Named{}, err
		}
		n.digest = d.String()
	}
	return n, nil
}

// ParseNormalizedNamed parses s as docker 28 does (distribution/reference
// v0.6's ParseNormalizedNamed): a name without a registry is Docker Hub's,
// and one without a path component under docker.io is an official image
// ("alpine" is "docker.io/library/alpine"); a first component with
// upper-case letters is a registry host, not a Docker Hub user.
func ParseNormalizedNamed(s string) (Named, error) {
	// Refuse a bare image ID before anything else, as docker does.
	if anchoredIdentifierRegexp().MatchString(s) {
		return Named{}, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remoteName, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(remoteName) != remoteName {
		return Named{}, errors.New("invalid reference format: repository name (" + remoteName + ") must be lowercase")
	}
	return Parse(domain + "/" + remainder)
}

// splitDockerDomain is distribution/reference v0.6's: the part before the
// first slash is a host when it has a dot or colon, is localhost, or has
// upper-case letters.
func splitDockerDomain(name string) (domain, remainder string) {
	i := strings.IndexRune(name, '/')
	if i == -1 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, remainder = DefaultDomain, name
	} else {
		domain, remainder = name[:i], name[i+1:]
	}
	if domain == legacyDefaultDomain {
		domain = DefaultDomain
	}
	if domain == DefaultDomain && !strings.ContainsRune(remainder, '/') {
		remainder = officialRepoPrefix + remainder
	}
	return domain, remainder
}
