package imageref

import (
	"strings"
	"testing"

	"github.com/docker/distribution/reference"
)

var seeds = []string{
	"", "alpine", "alpine:3.20", "library/alpine", "docker.io/library/alpine:3", "index.docker.io/team/app",
	"localhost:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"registry.example.com/team/app:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"Registry.Example.com/team/app", "UPPER/app", "app:UPPER", "a--b", "a__b", "a___b", "a..b", "-a", "a/",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"app@sha256:short", "app@md5:0123456789abcdef0123456789abcdef", "app@sha512:abc", "a:" + strings.Repeat("t", 129),
	strings.Repeat("a", 256), "example.com:/app", "[::1]:5000/app", "a b", "app:tag@", "host:99999999/app",
}

// FuzzParse holds Parse to distribution/reference's Parse: the same
// references accepted, with the same parts, and the same errors.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		d, derr := reference.Parse(s)
		if derr == nil {
			if _, named := d.(reference.Named); !named {
				if err == nil {
					t.Fatalf("Parse(%q) = %s; docker's parser: a reference without a name", s, n)
				}
				return
			}
		}
		if (err == nil) != (derr == nil) || (err != nil && err.Error() != derr.Error()) {
			t.Fatalf("Parse(%q): %v; docker's parser: %v", s, err, derr)
		}
		if err == nil {
			compare(t, s, n, d.(reference.Named))
		}
	})
}

// FuzzParseNormalizedNamed holds ParseNormalizedNamed to docker's
// (v2.7.1) wherever v0.6 agrees with it: when the first component has no
// upper-case letters.
func FuzzParseNormalizedNamed(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNormalizedNamed(s)
		if err == nil {
			again, err := ParseNormalizedNamed(n.String())
			if err != nil || again != n {
				t.Fatalf("ParseNormalizedNamed(%q) = %s, which parses again as %+v, %v", s, n, again, err)
			}
		}
		if i := strings.IndexByte(s, '/'); i >= 0 && strings.ToLower(s[:i]) != s[:i] {
			return // v0.6 reads it as a host; v2.7.1 refuses it
		}
		d, derr := reference.ParseNormalizedNamed(s)
		if (err == nil) != (derr == nil) {
			t.Fatalf("ParseNormalizedNamed(%q): %v; docker's parser: %v", s, err, derr)
		}
		if err == nil {
			compare(t, s, n, d)
		} else if !strings.Contains(derr.Error(), "must be lowercase") && err.Error() != derr.Error() {
			t.Fatalf("ParseNormalizedNamed(%q): %v; docker's parser: %v", s, err, derr)
		}
	})
}

func compare(t *testing.T, s string, n Named, d reference.Named) {
	t.Helper()
	var tag, dig string
	if x, ok := d.(reference.Tagged); ok {
		tag = x.Tag()
	}
	if x, ok := d.(reference.Digested); ok {
		dig = x.Digest().String()
	}
	if n.String() != d.String() || n.Name() != d.Name() || n.Domain() != reference.Domain(d) ||
		n.Path() != reference.Path(d) || n.Tag() != tag || n.Digest() != dig {
		t.Fatalf("%q: %+v (%s); docker's parser: %s (domain %s, path %s, tag %q, digest %q)",
			s, n, n, d, reference.Domain(d), reference.Path(d), tag, dig)
	}
}

// TestNormalized: the names docker 28 gives.
func TestNormalized(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":                            "docker.io/library/alpine",
		"alpine:3":                          "docker.io/library/alpine:3",
		"index.docker.io/team/app":          "docker.io/team/app",
		"localhost/app":                     "localhost/app",
		"Registry.Example.com/team/app:1.0": "Registry.Example.com/team/app:1.0",
		"127.0.0.1:5000/demo/app":           "127.0.0.1:5000/demo/app",
	} {
		n, err := ParseNormalizedNamed(in)
		if err != nil || n.String() != want {
			t.Errorf("ParseNormalizedNamed(%q) = %s, %v; want %s", in, n, err, want)
		}
	}
	for _, in := range []string{"Team/App", "team/App:1", strings.Repeat("0", 64), "a b"} {
		if n, err := ParseNormalizedNamed(in); err == nil {
			t.Errorf("ParseNormalizedNamed(%q) = %s; want a refusal", in, n)
		}
	}
}
