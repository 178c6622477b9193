package trust

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestAgainstDocker builds one repository with the real clients and checks
// Inspect and Verify against it.
func TestAgainstDocker(t *testing.T) {
	f := newFixture(t)
	t.Run("InspectMatchesDocker", func(t *testing.T) { testInspectMatchesDocker(t, f) })
	t.Run("InspectGolden", func(t *testing.T) { testInspectGolden(t, f) })
	t.Run("InspectDefaultsFromEnvironment", func(t *testing.T) { testInspectEnv(t, f) })
	t.Run("Verify", func(t *testing.T) { testVerify(t, f) })
	t.Run("VerifySharesDockerCache", func(t *testing.T) { testSharedCache(t, f) })
	t.Run("VerifyChecksTLS", func(t *testing.T) { testTLS(t, f) })
}

// inspectCases are argument lists for `docker trust inspect [--pretty]`.
func (f *fixture) inspectCases() [][]string {
	return [][]string{
		{f.repo},
		{f.repo + ":v1"},
		{f.repo + ":v3"},     // signed by carol only: no released signature
		{f.repo + ":nosuch"}, // unknown tag: empty list, not an error
		{f.repo + "@" + f.img["v1"].Digest},
		{f.repo + ":v1", f.repo + ":v2"},
		{f.repo + ":v1", f.other, f.repo + ":v10"}, // one failure in the middle
		{f.other},
		{"::bad::"},
	}
}

func testInspectMatchesDocker(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, refs := range f.inspectCases() {
		t.Run("json "+strings.Join(refs, " "), func(t *testing.T) {
			want := f.docker.Docker(t, append([]string{"trust", "inspect"}, refs...)...)
			repos, err := Inspect(ctx, InspectOptions{Options: f.opts(), Refs: refs})
			var got bytes.Buffer
			if werr := WriteJSON(&got, repos); werr != nil {
				t.Fatal(werr)
			}
			compare(t, got.String(), err, want.Stdout, want.Stderr, want.Err)
		})
		t.Run("pretty "+strings.Join(refs, " "), func(t *testing.T) {
			want := f.docker.Docker(t, append([]string{"trust", "inspect", "--pretty"}, refs...)...)
			var got bytes.Buffer
			err := InspectPretty(ctx, InspectOptions{Options: f.opts(), Out: &got, Refs: refs})
			compare(t, got.String(), err, want.Stdout, want.Stderr, want.Err)
		})
	}
}

// compare checks stdout byte for byte and that our errors carry docker's
// messages, one per line of docker's stderr.
func compare(t *testing.T, got string, err error, want, wantErr string, dockerErr error) {
	t.Helper()
	if got != want {
		t.Errorf("output differs from docker's\n--- docker:\n%s\n--- ours:\n%s", want, got)
	}
	if (err != nil) != (dockerErr != nil) {
		t.Fatalf("error = %v, docker's = %v (stderr %q)", err, dockerErr, wantErr)
	}
	if err == nil {
		return
	}
	var msgs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		msgs = append(msgs, strings.TrimPrefix(line, "trust: "))
	}
	if g, w := strings.Join(msgs, "\n"), strings.TrimSuffix(wantErr, "\n"); g != w {
		t.Errorf("error messages differ\n--- docker:\n%s\n--- ours:\n%s", w, g)
	}
}

func testInspectGolden(t *testing.T, f *fixture) {
	var js, pretty bytes.Buffer
	repos, err := Inspect(context.Background(), InspectOptions{Options: f.opts(), Refs: []string{f.repo}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, repos); err != nil {
		t.Fatal(err)
	}
	if err := InspectPretty(context.Background(), InspectOptions{Options: f.opts(), Out: &pretty, Refs: []string{f.repo}}); err != nil {
		t.Fatal(err)
	}
	golden(t, "inspect.golden.json", f.normalise(t, repos[0], js.String()))
	golden(t, "inspect-pretty.golden.txt", f.normalise(t, repos[0], pretty.String()))
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// normalise replaces what changes every run by names taken from repo: the
// registry address, digests (<digest:TAG>), key IDs (<key:SIGNER>) and the
// 12-digit prefixes docker shows for signer keys. Names are padded to 64
// characters so the table layout is kept.
func (f *fixture) normalise(t *testing.T, repo Repository, s string) string {
	t.Helper()
	host, _, _ := strings.Cut(f.repo, "/")
	s = strings.ReplaceAll(s, host, "REGISTRY")
	names := map[string]string{}
	for _, tag := range repo.SignedTags {
		names[tag.Digest] = "<digest:" + tag.SignedTag + ">"
	}
	for _, signers := range [][]Signer{repo.Signers, repo.AdministrativeKeys} {
		for _, signer := range signers {
			for _, k := range signer.Keys {
				names[k.ID] = "<key:" + signer.Name + ">"
			}
		}
	}
	for h, n := range names {
		n += strings.Repeat("_", 64-len(n))
		s = strings.ReplaceAll(s, h, n)
		s = strings.ReplaceAll(s, h[:truncatedKeyLen], n[:truncatedKeyLen])
	}
	if left := hex64.FindString(s); left != "" {
		t.Fatalf("normalise: %s is not a digest or key ID of the repository", left)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n--- want:\n%s\n--- got:\n%s", path, want, got)
	}
}

// testInspectEnv uses no options: DOCKER_CONFIG and
// DOCKER_CONTENT_TRUST_SERVER decide, as they do for docker.
func testInspectEnv(t *testing.T, f *fixture) {
	f.docker.Setenv(t)
	repos, err := Inspect(context.Background(), InspectOptions{Options: Options{}, Refs: []string{f.repo + ":v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || len(repos[0].SignedTags) != 1 || repos[0].SignedTags[0].Digest != f.img["v1"].Hex {
		t.Fatalf("Inspect = %+v, want v1 signed as %s", repos, f.img["v1"].Hex)
	}
}
