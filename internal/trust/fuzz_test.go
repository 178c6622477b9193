package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/docker/distribution/reference"
)

// FuzzParseRef compares parseRef with docker's own reference parser
// (reference.ParseNormalizedNamed of docker/distribution v2.7.1, the one
// in go.mod) wherever the two are meant to agree: parseRef follows
// distribution/reference v0.6 (docker 28), which differs from v2.7.1 only
// in reading a first component with upper-case letters as a registry host.
// Everything parseRef accepts must also re-parse from its own rendering to
// the same repository. Seeds live in testdata/fuzz/FuzzParseRef.
func FuzzParseRef(f *testing.F) {
	f.Add("alpine:3.20")
	f.Add("localhost:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRef(s)
		if err == nil {
			again, err := parseRef(r.named.String())
			if err != nil {
				t.Fatalf("parseRef(%q) = %s, which does not parse again: %v", s, r.named, err)
			}
			if again.gun != r.gun || again.tag != r.tag || again.digest != r.digest {
				t.Fatalf("parseRef(%q) = %s (gun %s), re-parsed: %s (gun %s)", s, r.named, r.gun, again.named, again.gun)
			}
			if r.gun.String() != r.named.Name() || !strings.HasPrefix(r.gun.String(), r.index+"/") {
				t.Fatalf("parseRef(%q): gun %s, name %s, index %s", s, r.gun, r.named.Name(), r.index)
			}
		}
		if i := strings.IndexByte(s, '/'); i >= 0 && strings.ToLower(s[:i]) != s[:i] {
			return // v0.6 and v2.7.1 disagree here on purpose
		}
		d, derr := reference.ParseNormalizedNamed(s)
		if (err == nil) != (derr == nil) {
			t.Fatalf("parseRef(%q): %v; docker's parser: %v", s, err, derr)
		}
		if err == nil && d.String() != r.named.String() {
			t.Fatalf("parseRef(%q) = %s; docker's parser: %s", s, r.named, d)
		}
	})
}

// FuzzParseKeyFile feeds arbitrary files (and a cut point) to
// ParseKeyFile with the passphrase "s3cret". It must never panic; what it
// accepts must be a PKCS#8 key; and it never accepts a truncated file as
// another key: a prefix of an accepted file is refused or yields the same
// key, and the file's key material cut short inside its PEM armour is
// refused. Seeds live in testdata/fuzz/FuzzParseKeyFile.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n"), uint(5))
	pass := func(string) ([]byte, error) { return []byte("s3cret"), nil }
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		kf, err := ParseKeyFile(data, pass)
		if err != nil {
			return
		}
		if _, err := x509.ParsePKCS8PrivateKey(kf.PKCS8); err != nil {
			t.Fatalf("accepted a key whose PKCS#8 does not parse: %v", err)
		}
		if len(data) == 0 {
			t.Fatal("accepted an empty file")
		}
		prefix := data[:cut%uint(len(data))]
		if kp, err := ParseKeyFile(prefix, pass); err == nil && !bytes.Equal(kp.PKCS8, kf.PKCS8) {
			t.Fatalf("the first %d of %d bytes were accepted as another key", len(prefix), len(data))
		}
		block, _ := pem.Decode(data)
		if block == nil || len(block.Bytes) == 0 {
			t.Fatal("accepted a file pem.Decode does not read")
		}
		short := *block
		short.Bytes = block.Bytes[:cut%uint(len(block.Bytes))]
		if kp, err := ParseKeyFile(pem.EncodeToMemory(&short), pass); err == nil {
			if bytes.Equal(kp.PKCS8, kf.PKCS8) {
				t.Fatalf("%d of %d bytes of key material were accepted as the whole key", len(short.Bytes), len(block.Bytes))
			}
			t.Fatalf("%d of %d bytes of key material were accepted as another key", len(short.Bytes), len(block.Bytes))
		}
	})
}
