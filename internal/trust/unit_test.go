package trust

import (
	"bytes"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	cases := []struct {
		in, gun, index, tag, digest string
		official                    bool
	}{
		{in: "alpine", gun: "docker.io/library/alpine", index: "docker.io", official: true},
		{in: "alpine:3", gun: "docker.io/library/alpine", index: "docker.io", tag: "3", official: true},
		{in: "index.docker.io/me/app:1", gun: "docker.io/me/app", index: "docker.io", tag: "1", official: true},
		{in: "me/app", gun: "docker.io/me/app", index: "docker.io", official: true},
		{in: "localhost/app", gun: "localhost/app", index: "localhost"},
		{in: "127.0.0.1:5000/a/b:v1", gun: "127.0.0.1:5000/a/b", index: "127.0.0.1:5000", tag: "v1"},
		// distribution/reference v0.6, as in docker 28: upper case means a host.
		{in: "UPPER/case", gun: "UPPER/case", index: "UPPER"},
		{in: "r.example.com/x@sha256:" + strings.Repeat("a", 64), gun: "r.example.com/x", index: "r.example.com", digest: "sha256:" + strings.Repeat("a", 64)},
	}
	for _, c := range cases {
		r, err := parseRef(c.in)
		if err != nil {
			t.Errorf("parseRef(%q): %v", c.in, err)
			continue
		}
		if r.gun.String() != c.gun || r.index != c.index || r.tag != c.tag || r.digest != c.digest || r.official != c.official {
			t.Errorf("parseRef(%q) = gun %s index %s tag %q digest %q official %v", c.in, r.gun, r.index, r.tag, r.digest, r.official)
		}
	}
	for in, msg := range map[string]string{
		"::bad::":               "trust: invalid reference format",
		"me/App":                "trust: invalid reference format: repository name (me/App) must be lowercase",
		strings.Repeat("a", 64): "trust: invalid repository name (" + strings.Repeat("a", 64) + "), cannot specify 64-byte hexadecimal strings",
	} {
		_, err := parseRef(in)
		if err == nil || err.Error() != msg {
			t.Errorf("parseRef(%q) error = %v, want %q", in, err, msg)
		}
	}
}

func TestNaturalLess(t *testing.T) {
	in := []string{"v10", "v2", "v1", "latest", "1.10", "1.9", "1.09", "a", "v02"}
	sort.Slice(in, func(i, j int) bool { return naturalLess(in[i], in[j]) })
	want := "1.9 1.09 1.10 a latest v1 v2 v02 v10"
	if got := strings.Join(in, " "); got != want {
		t.Fatalf("natural order = %s, want %s", got, want)
	}
}

func TestServer(t *testing.T) {
	t.Setenv(ServerEnv, "")
	cases := []struct {
		opt, env, index string
		official        bool
		want, err       string
	}{
		{index: "docker.io", official: true, want: "https://notary.docker.io"},
		{index: "registry.example.com:5000", want: "https://registry.example.com:5000"},
		{env: "https://n.example.com/", index: "docker.io", official: true, want: "https://n.example.com"},
		{opt: "https://o.example.com", env: "https://n.example.com", index: "x", want: "https://o.example.com"},
		{env: "http://n.example.com", index: "x", err: "trust: valid https URL required for trust server, got http://n.example.com"},
	}
	for _, c := range cases {
		t.Setenv(ServerEnv, c.env)
		got, err := Options{Server: c.opt}.server(c.index, c.official)
		if c.err != "" {
			if err == nil || err.Error() != c.err || Hint(err) == "" {
				t.Errorf("server(%+v) error = %v (hint %q), want %q with a hint", c, err, Hint(err), c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("server(%+v) = %q, %v; want %q", c, got, err, c.want)
		}
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Fatalf("WriteJSON(nil) = %q, %v; want docker's %q", b.String(), err, "[]\n")
	}
}

func TestHTTPSOnly(t *testing.T) {
	rt := httpsOnly{http.DefaultTransport}
	_, err := rt.RoundTrip(&http.Request{URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/v2/"}})
	if err == nil || !strings.Contains(err.Error(), "https only") {
		t.Fatalf("plain http error = %v, want a refusal", err)
	}
}

func TestCanonicalGUN(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"alpine":               "docker.io/library/alpine",
		"team/app":             "docker.io/team/app",
		"example.com/team/app": "example.com/team/app",
		"127.0.0.1:5000/app":   "127.0.0.1:5000/app",
		"Not A Repo":           "Not A Repo",
	} {
		if got := CanonicalGUN(in); got != want {
			t.Errorf("CanonicalGUN(%q) = %q, want %q", in, got, want)
		}
	}
}
