package trusttest

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry on 127.0.0.1 (plain HTTP).
type Registry struct {
	Host string // 127.0.0.1:PORT
}

// StartRegistry serves go-containerregistry's registry on a loopback port
// until the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Image is an image pushed to a Registry: the target a signer puts into TUF.
type Image struct {
	Repo   string // HOST:PORT/REPO, also the notary GUN
	Tag    string
	Ref    string // Repo:Tag
	Digest string // manifest digest, "sha256:<hex>"
	Hex    string // Digest without the algorithm
	Size   int64  // manifest size in bytes
}

// PushRandom pushes a small random image as repo:tag (repo without host) and
// returns what was pushed.
func (r *Registry) PushRandom(t testing.TB, repo, tag string) Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("trusttest: random image: %v", err)
	}
	ref, err := name.NewTag(r.Host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("trusttest: push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("trusttest: digest: %v", err)
	}
	size, err := img.Size()
	if err != nil {
		t.Fatalf("trusttest: size: %v", err)
	}
	return Image{
		Repo:   r.Host + "/" + repo,
		Tag:    tag,
		Ref:    r.Host + "/" + repo + ":" + tag,
		Digest: d.String(),
		Hex:    d.Hex,
		Size:   size,
	}
}
