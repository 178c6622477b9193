package canonjson

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestCheckedFileMeta: the fast path takes a file entry's hash only in the
// one form base64.StdEncoding writes, so that CheckedFileMetaAt can stand
// for the policy's own base64 check; every other hash is left to the
// generic parser (accepted there as any string, for the policy to refuse).
func TestCheckedFileMeta(t *testing.T) {
	for _, c := range []struct {
		hash    string
		checked bool
	}{
		{"", true},
		{"AA==", true},
		{"AAA=", true},
		{"AAAA", true},
		{"3q2+7w==", true},
		{"3q2+7/8=", true},
		{strings.Repeat("A", 252), true},
		{strings.Repeat("A", 251) + "=", true},
		{"3q2+7x==", false},                        // unused bits set (1 byte: 4 bits)
		{"3q2+7/9=", false},                        // unused bits set (2 bytes: 2 bits)
		{"AAF=", false},                            // the same, the last bit
		{"AB==", false},                            // the same, the last bit
		{"3q2+7w", false},                          // no padding
		{"3q2+7w=", false},                         // too little
		{"3q2+7w===", false},                       // too much
		{"3q2+7===", false},                        // three '='
		{"A===", false},                            // three '='
		{"====", false},                            // padding only
		{"3q==7w==", false},                        // padding inside
		{"=3q27w==", false},                        // padding first
		{"AAAAA", false},                           // not whole quanta
		{"3q2-7w==", false},                        // URL alphabet
		{"3q2_7w==", false},                        // URL alphabet
		{"3q2 7w==", false},                        // white space
		{"3q2+7w==\n", false},                      // a newline (a raw control character: refused by both paths)
		{strings.Repeat("A", 256), false},          // beyond the fast path's 8 bits
		{strings.Repeat("A", 252) + "AA==", false}, // the same, padded
		{strings.Repeat("A", 254) + "==", false},   // the same
	} {
		data := `{"t":{"a":{"hashes":{"sha256":"` + c.hash + `"},"length":7}}}`
		fo, ferr := parse([]byte(data), true)
		_, gerr := parse([]byte(data), false)
		if fmt.Sprint(ferr) != fmt.Sprint(gerr) {
			t.Errorf("%q: the fast path says %v, the generic parser %v", c.hash, ferr, gerr)
			continue
		}
		if ferr != nil {
			if c.checked {
				t.Errorf("%q: %v", c.hash, ferr)
			}
			continue
		}
		files, _ := fo.ObjectAt(0)
		if got := files.CheckedFileMetaAt(0); got != c.checked {
			t.Errorf("%q: CheckedFileMetaAt = %v, want %v", c.hash, got, c.checked)
		}
		if err := checkedFileMetas(fo); err != nil {
			t.Error(err)
		}
		if h, n, ok := files.FileMetaAt(0); !ok || string(h) != c.hash || n != 7 {
			t.Errorf("%q: FileMetaAt = %q, %d, %v", c.hash, h, n, ok)
		}
	}
	// The length: digits only (no '-'), at most 8 of them.
	for _, c := range []struct {
		length  string
		checked bool
	}{{"0", true}, {"99999999", true}, {"100000000", false}, {"-1", false}, {"1", true}} {
		data := `{"a":{"hashes":{"sha256":"AA=="},"length":` + c.length + `}}`
		o, err := Parse([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := o.CheckedFileMetaAt(0); got != c.checked {
			t.Errorf("length %s: CheckedFileMetaAt = %v, want %v", c.length, got, c.checked)
		}
	}
}

// checkedFileMetas walks every object in v and checks what
// CheckedFileMetaAt promises of each value it reports: notary's FileMeta
// with a SHA-256 only, the hash as base64.StdEncoding writes it (decoded
// strictly and encoded back to the same bytes), the length from 0 to
// 99,999,999.
func checkedFileMetas(v any) error {
	switch v := v.(type) {
	case *Object:
		for i := range v.Len() {
			if v.CheckedFileMetaAt(i) {
				h, n, ok := v.FileMetaAt(i)
				if !ok || n < 0 || n > 99999999 {
					return fmt.Errorf("CheckedFileMetaAt(%d) but FileMetaAt = %q, %d, %v", i, h, n, ok)
				}
				raw, err := base64.StdEncoding.Strict().DecodeString(string(h))
				if err != nil || base64.StdEncoding.EncodeToString(raw) != string(h) {
					return fmt.Errorf("CheckedFileMetaAt(%d) took the hash %q, not in base64.StdEncoding's form (%v)", i, h, err)
				}
			}
			if err := checkedFileMetas(v.At(i)); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkedFileMetas(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestRelease: a released document's large slab serves the next Parse
// without changing what that document reads, and the released handle
// is empty.
func TestRelease(t *testing.T) {
	doc := func(hash string, n int) string {
		var b strings.Builder
		b.WriteString(`{"t":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%06d":{"hashes":{"sha256":"%s"},"length":%d}`, i, hash, i)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	for round := range 6 {
		a := []byte(doc("AAAA", 900+round))
		o, err := Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		want := readAll(o)
		o.Release()
		if o.Len() != 0 {
			t.Fatalf("a released Object has %d keys", o.Len())
		}
		o.Release() // twice: nothing more to hand back
		// The next, larger or smaller, likely on the slab a held: it reads
		// as itself, and the same bytes read the same again.
		b := []byte(doc("BBBB", 600+40*round*round)) // more than maxSlab/4: large
		p, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parse(b, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := readAll(p), readAll(q); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: a document on a released slab reads differently", round)
		}
		if enc := Encode(nil, p); string(enc) != string(b) {
			t.Fatalf("round %d: a document on a released slab encodes differently", round)
		}
		p.Release()
		o, _ = Parse(a)
		if !reflect.DeepEqual(readAll(o), want) {
			t.Fatalf("round %d: parsed again after a release, the document reads differently", round)
		}
	}
}
