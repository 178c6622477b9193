package tuf

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"
)

// TestBase64Value: []byte fields must be in the one form an encoder writes.
func TestBase64Value(t *testing.T) {
	if b, err := base64Value("3q2+7w==", "x"); err != nil || len(b) != 4 {
		t.Fatalf("base64Value = %x, %v", b, err)
	}
	for _, bad := range []string{"3q2+7w=\n=", "3q2+7w", "3q2+7x==", "3q2-7w==", " 3q2+7w=="} {
		if _, err := base64Value(bad, "x"); err == nil {
			t.Errorf("base64Value(%q) accepted", bad)
		}
	}
}

// TestCanonicalBase64 compares the check without decoding with decoding
// and encoding again, on every string of up to 4 characters over an
// alphabet that has each class of byte (letters that leave bits over,
// '+', '/', '=', '-', '_', space, NUL, non-ASCII).
func TestCanonicalBase64(t *testing.T) {
	alphabet := "AEBQwg+/=-_ \x00\xc39"
	var walk func(s string)
	walk = func(s string) {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		want := err == nil && base64.StdEncoding.EncodeToString(b) == s
		if got := canonicalBase64(s); got != want {
			t.Errorf("canonicalBase64(%q) = %v, want %v", s, got, want)
		}
		if len(s) < 4 {
			for i := range len(alphabet) {
				walk(s + alphabet[i:i+1])
			}
		}
	}
	walk("")
	for _, s := range []string{"3q2+7w==", "3q2+7x==", "AAAA", "AAE=", "AAF=", "AB==", "AQ==", "AAAAAAAA====", "A==="} {
		walk(s)
	}
}

// TestParseExpiry: only the form time.Time.MarshalJSON writes.
func TestParseExpiry(t *testing.T) {
	for _, ok := range []string{"2030-01-01T00:00:00Z", "2030-01-01T00:00:00.5Z", "2030-01-01T01:00:00+01:00"} {
		if _, err := parseExpiry(ok); err != nil {
			t.Errorf("parseExpiry(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "2030-01-01", "2030-01-01T00:00:00.000Z", "2030-01-01T00:00:00+00:00", "2030-01-01 00:00:00Z"} {
		if _, err := parseExpiry(bad); err == nil {
			t.Errorf("parseExpiry(%q) accepted", bad)
		}
	}
}

// BenchmarkParseMetadata reads Targets metadata listing 10,000 tags, as
// a large repository's publish sends it.
func BenchmarkParseMetadata(b *testing.B) {
	tags := make([]string, 10000)
	for i := range tags {
		tags[i] = "v" + strconv.Itoa(i)
	}
	data := []byte(targetsJSON(tags...))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := parseMetadata(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMetadataP6 reads BenchmarkP6's 1 MiB payload (about
// 18,400 tags): the parse and the policy's checks, on one core.
func BenchmarkParseMetadataP6(b *testing.B) {
	var tags []string
	for i := 0; i%256 != 1 || len(targetsJSON(tags...)) < 1<<20; i++ {
		tags = append(tags, fmt.Sprintf("tag-%06d", i))
	}
	data := []byte(targetsJSON(tags...))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseMetadata(data); err != nil {
			b.Fatal(err)
		}
	}
}
