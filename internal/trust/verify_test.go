package trust

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/storage"
)

func testVerify(t *testing.T, f *fixture) {
	ctx := context.Background()
	ok := []struct {
		ref, tag, role string
		want           string // image whose digest is signed
	}{
		{f.repo + ":v1", "v1", "targets/releases", "v1"},
		{f.repo + ":v2", "v2", "targets", "v2"},
		{f.repo + ":v10", "v10", "targets/releases", "v10"},
		{f.split + ":v5", "v5", "targets/releases", "v5"}, // releases before targets
		{f.repo + "@" + f.img["v1"].Digest, "v1", "targets/releases", "v1"},
		{f.repo + "@" + f.img["v2"].Digest, "v2", "targets", "v2"},
		{f.repo + ":v1@" + f.img["v1"].Digest, "v1", "targets/releases", "v1"},
	}
	for _, c := range ok {
		t.Run(c.ref, func(t *testing.T) {
			v, err := Verify(ctx, VerifyOptions{Options: f.opts(), Ref: c.ref})
			if err != nil {
				t.Fatal(err)
			}
			img := f.img[c.want]
			if v.Digest != img.Digest || v.Size != img.Size || v.Tag != c.tag || v.Role != c.role || v.GUN != img.Repo {
				t.Fatalf("Verify = %+v, want tag %s digest %s size %d role %s", v, c.tag, img.Digest, img.Size, c.role)
			}
			if v.Pinned() != img.Repo+"@"+img.Digest {
				t.Fatalf("Pinned = %s", v.Pinned())
			}
		})
	}

	bad := []struct {
		ref, msg string
		cause    any // pointer to the notary error type expected in the chain, or nil
	}{
		{f.repo + ":unsigned", "trust: No valid trust data for unsigned", new(client.ErrNoSuchTarget)},
		{f.repo + ":v3", "trust: No valid trust data for v3", new(client.ErrNoSuchTarget)},
		{f.repo, "trust: No valid trust data for latest", new(client.ErrNoSuchTarget)},
		{f.repo + "@" + f.img["unsigned"].Digest, "trust: no signed tag of " + f.repo + " has digest " + f.img["unsigned"].Digest, nil},
		{f.repo + "@" + f.img["v3"].Digest, "trust: no signed tag of " + f.repo + " has digest " + f.img["v3"].Digest, nil},
		{f.repo + ":v1@" + f.img["v2"].Digest, "trust: v1 is signed for " + f.img["v1"].Digest + ", not " + f.img["v2"].Digest, nil},
		{f.other + ":v1", "trust: remote trust data does not exist for " + f.other + ": " + f.notary.Addr + " does not have trust data for " + f.other, new(client.ErrRepositoryNotExist)},
		{"Not/Valid", "trust: invalid reference format: repository name (Valid) must be lowercase", nil},
	}
	for _, c := range bad {
		t.Run(c.ref, func(t *testing.T) {
			v, err := Verify(ctx, VerifyOptions{Options: f.opts(), Ref: c.ref})
			if err == nil {
				t.Fatalf("Verify = %+v, want error %q", v, c.msg)
			}
			if err.Error() != c.msg {
				t.Fatalf("error = %q, want %q", err, c.msg)
			}
			if Hint(err) == "" {
				t.Errorf("no hint for %q", err)
			}
			if c.cause != nil && !errors.As(err, c.cause) {
				t.Errorf("error %q does not wrap %T", err, c.cause)
			}
		})
	}
}

// testSharedCache checks that docker reads the cache Verify wrote and the
// other way round: the same TUF files under DOCKER_CONFIG/trust/tuf.
func testSharedCache(t *testing.T, f *fixture) {
	if _, err := Verify(context.Background(), VerifyOptions{Options: f.opts(), Ref: f.repo + ":v1"}); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(f.docker.TrustDir, "tuf", filepath.FromSlash(f.repo), "metadata")
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		if _, err := os.Stat(filepath.Join(meta, role+".json")); err != nil {
			t.Errorf("cache: %v", err)
		}
	}
	// Docker must accept what the cache holds (it pins the cached root).
	out := f.docker.MustDocker(t, "trust", "inspect", f.repo+":v1")
	if !strings.Contains(out, f.img["v1"].Hex) {
		t.Fatalf("docker trust inspect after Verify:\n%s", out)
	}
}

// testTLS checks that the server's certificate is verified: without its CA
// the request fails (docker would skip verification for a loopback
// registry; we do not), and TLSCACert is enough to trust it.
func testTLS(t *testing.T, f *fixture) {
	empty := t.TempDir()
	_, err := Verify(context.Background(), VerifyOptions{Options: Options{ConfigDir: empty, Server: f.notary.URL}, Ref: f.repo + ":v1"})
	var netErr storage.NetworkError
	if err == nil || !errors.As(err, &netErr) || !strings.HasPrefix(err.Error(), "trust: error contacting notary server: ") {
		t.Fatalf("Verify without the CA: error = %v, want docker's network error", err)
	}
	// The error names the server tried, where its URL came from and the
	// file its CA belongs in.
	u, _ := url.Parse(f.notary.URL)
	for _, want := range []string{"the notary server " + f.notary.URL + " (from --server)", filepath.Join(empty, "tls", u.Host, "ca.crt")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify without the CA: error %q lacks %q", err, want)
		}
	}
	// Nothing listening: the URL tried, and that the variable was unset.
	t.Setenv(ServerEnv, "")
	_, err = Verify(context.Background(), VerifyOptions{Options: Options{ConfigDir: empty}, Ref: "127.0.0.1:1/no/server:v1"})
	if err == nil || !strings.Contains(err.Error(), "no notary server answers at https://127.0.0.1:1 ($DOCKER_CONTENT_TRUST_SERVER is not set: docker's default for the registry)") {
		t.Errorf("Verify with no server: %v", err)
	}
	v, err := Verify(context.Background(), VerifyOptions{Options: Options{ConfigDir: empty, Server: f.notary.URL, TLSCACert: f.notary.CAFile}, Ref: f.repo + ":v1"})
	if err != nil || v.Digest != f.img["v1"].Digest {
		t.Fatalf("Verify with TLSCACert = %+v, %v", v, err)
	}
}
