package trust

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// CanonicalGUN turns a repository as a user types it ("alpine",
// "example.com/app") into the GUN docker uses for its trust data
// ("docker.io/library/alpine", "example.com/app"). It returns "" for "".
// Names it cannot parse are returned as given, for the caller's validation
// to refuse with the user's own spelling.
func CanonicalGUN(repo string) string {
	if repo == "" {
		return ""
	}
	r, err := name.NewRepository(repo)
	if err != nil {
		return repo
	}
	return gunOf(r)
}

// gunOf is docker's GUN for a parsed repository: Docker Hub is "docker.io",
// not go-containerregistry's "index.docker.io".
func gunOf(r name.Repository) string {
	host := r.RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	return host + "/" + r.RepositoryStr()
}

// ParseRepoTag splits REPO[:TAG] into a repository and a tag ("" when none).
func ParseRepoTag(ref string) (name.Repository, string, error) {
	if strings.Contains(ref, "@") {
		return name.Repository{}, "", fmt.Errorf("trust: %q: give a tag, not a digest", ref)
	}
	if t, err := name.NewTag(ref, name.StrictValidation); err == nil {
		return t.Repository, t.TagStr(), nil
	}
	r, err := name.NewRepository(ref)
	if err != nil {
		return name.Repository{}, "", fmt.Errorf("trust: %q is not a repository reference: %v", ref, err)
	}
	return r, "", nil
}
