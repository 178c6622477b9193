package canonjson

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/go/canonical/json"
)

// FuzzParse is differential against notary's canonical encoder
// (github.com/docker/go/canonical/json, test-only: the package itself uses
// the standard library only). Whatever Parse accepts, Encode writes back
// byte for byte, and so does notary's encoder from what its own decoder
// reads. Whatever Parse refuses, notary's decoder refuses, or its encoder
// writes differently, or it is JSON notary's TUF metadata never holds (not
// an object at the top, a number that is no int64 in FormatInt form,
// nesting deeper than MaxDepth).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":[]}`, `{"a":[1,-2,0,true,false,null,"x",{"b":{}}]}`,
		`{"a":9223372036854775807,"b":-9223372036854775808}`, `{"a":9007199254740992,"b":-9007199254740992}`, `{"a":9007199254740993}`,
		"{\"<>&\":\"\u2028\u2029é日本\"}", `{"q":"\"\\"}`, `{"A":1,"_":2,"a":3}`,
		`{"b":1,"a":2}`, `{"a":1,"a":1}`, `{"a":"\u0041"}`, `{"a":"\/"}`, `{"a":1.0}`,
		`{"a":-0}`, `{"a":01}`, `{"a": 1}`, "{\"a\":\"\xff\"}", `{"\\":1,"\"":2}`,
		`{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{"v1":{"hashes":{"sha256":"3q2+7w=="},"length":1}},"version":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, perr := Parse(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		derr := dec.Decode(&v)
		var notary []byte
		if derr == nil && !dec.More() {
			notary, derr = json.MarshalCanonical(v)
		}
		if perr == nil {
			if enc := Encode(nil, obj); !bytes.Equal(enc, data) {
				t.Fatalf("Parse accepted %q, which Encode writes back as %q", data, enc)
			}
			if derr != nil || !bytes.Equal(notary, data) {
				t.Fatalf("Parse accepted %q, which notary's encoder writes as %q (%v)", data, notary, derr)
			}
			// notary verifies over the payload decoded into interface{}
			// (numbers as float64) and written back: the same bytes again.
			var f any
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatalf("Parse accepted %q, which notary's verifier cannot decode: %v", data, err)
			}
			if back, err := json.MarshalCanonical(f); err != nil || !bytes.Equal(back, data) {
				t.Fatalf("Parse accepted %q, which notary's verifier reads back as %q (%v)", data, back, err)
			}
			return
		}
		if derr != nil || !bytes.Equal(notary, data) {
			return // notary would not write these bytes either
		}
		if _, ok := v.(map[string]any); !ok || !notaryTUF(v, 0) {
			return // JSON that notary's TUF metadata never holds
		}
		t.Fatalf("Parse refused %q (%v), which notary's canonical encoder writes", data, perr)
	})
}

// notaryTUF reports whether v holds only what notary's TUF types write:
// integers in FormatInt form within ±2^53 (beyond, notary's verifier,
// reading numbers as float64, writes another number), no deeper than
// MaxDepth.
func notaryTUF(v any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if !notaryTUF(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !notaryTUF(e, depth+1) {
				return false
			}
		}
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return err == nil && strconv.FormatInt(n, 10) == string(v) && -MaxInt <= n && n <= MaxInt
	}
	return true
}

// FuzzFastPath is differential between the fast path for file metadata
// (fast.go) and the generic parser on the same bytes: the same answer
// (the same error, at the same byte, for the same reason), and when both
// accept, the same document as every accessor reads it (keys, values,
// kinds, FileMetaAt), and Encode gives the bytes back.
func FuzzFastPath(f *testing.F) {
	const h = `3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`
	for _, s := range []string{
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1},"b":{"hashes":{"sha256":"` + h + `"},"length":0}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":01}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":-1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":123456789012345678}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":99999999},"b":{"hashes":{"sha256":"` + h + `"},"length":100000000}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + strings.Repeat("A", 255) + `"},"length":1},"b":{"hashes":{"sha256":"` + strings.Repeat("A", 256) + `"},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":""},"length":0}},"u":[{"hashes":{"sha256":"AA=="},"length":1}]}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1234567890123456789}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":99999999999999999999}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1.5}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1,"x":2}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h[:43] + `\""},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h[:43] + `"},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h[:42] + `\\"},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h[:43] + "\x00" + `"},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1},"a":{"hashes":{"sha256":"` + h + `"},"length":1}}}`,
		`{"t":{"b":{"hashes":{"sha256":"` + h + `"},"length":1},"a":{"hashes":{"sha256":"` + h + `"},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `","sha512":"AA=="},"length":1}}}`,
		`{"t":{"a":{"custom":{},"hashes":{"sha256":"` + h + `"},"length":1}}}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"hashes":{"sha256":"` + h + `"},"length":1}}}}}}}}}}}}}}}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"hashes":{"sha256":"` + h + `"},"length":1}}}}}}}}}}}}}}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"hashes":{"sha256":"` + h + `"},"length":1}}}}}}}}}}}}}}}}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1}`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":1`,
		`{"t":{"a":{"hashes":{"sha256":"` + h + `"},"length":`,
		// Hashes not in base64.StdEncoding's one form: the generic parser's.
		`{"t":{"a":{"hashes":{"sha256":"3q2+7x=="},"length":1},"b":{"hashes":{"sha256":"3q2+7/9="},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"3q2+7w"},"length":1},"b":{"hashes":{"sha256":"3q2+7w="},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"3q==7w=="},"length":1},"b":{"hashes":{"sha256":"A==="},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"AAAAA"},"length":1},"b":{"hashes":{"sha256":"3q2-7w=="},"length":1}}}`,
		// fileRun's own territory (r12-review): an escaped name before a
		// plain one equal to it once unescaped, or just after it; names
		// with DEL, UTF-8 (valid and not), a control character; a name
		// ending within the last 8 bytes of the data; an empty name.
		`{"t":{"a\\":{"hashes":{"sha256":"AA=="},"length":1},"a\\":{"hashes":{"sha256":"AA=="},"length":1}}}`,
		`{"t":{"a\"":{"hashes":{"sha256":"AA=="},"length":1},"a\"":{"hashes":{"sha256":"AA=="},"length":1}}}`,
		`{"t":{"a\"":{"hashes":{"sha256":"AA=="},"length":1},"a#":{"hashes":{"sha256":"AA=="},"length":1}}}`,
		"{\"t\":{\"a\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1},\"a\x7f\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1},\"b\xc3\xa9\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1}}}",
		"{\"t\":{\"a\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1},\"b\xc3\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1}}}",
		"{\"t\":{\"a\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1},\"b\x1f\":{\"hashes\":{\"sha256\":\"AA==\"},\"length\":1}}}",
		`{"t":{"a":{"hashes":{"sha256":"AA=="},"length":1},"":{"hashes":{"sha256":"AA=="},"length":1}}}`,
		`{"t":{"a":{"hashes":{"sha256":"AA=="},"length":1},"b":{"hashes":{"sha256":"AA=="},"length":1},"c":1}}`,
		`{"a":{"hashes":{"sha256":"AA=="},"length":1},"b":{"hashes":{"sha256":"AA=="},"length":1}}`,
		`{"a":{"hashes":{"sha256":"AA=="},"length":1},"bc":`,
		`{"a":{"hashes":{"sha256":"AA=="},"length":1},"bcdefgh":{"hashes":{"sha256":"AA=="},"length":1}}`,
		`{"a":{"hashes":{"sha256":"AA=="},"length":1},"bcdefghi":{"hashes":{"sha256":"AA=="},"length":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fo, ferr := parse(data, true)
		go_, gerr := parse(data, false)
		if (ferr == nil) != (gerr == nil) || (ferr != nil && ferr.Error() != gerr.Error()) {
			t.Fatalf("%q: the fast path says %v, the generic parser %v", data, ferr, gerr)
		}
		if ferr != nil {
			return
		}
		if f, g := readAll(fo), readAll(go_); !reflect.DeepEqual(f, g) {
			t.Fatalf("%q: the fast path reads as %v, the generic parser's document as %v", data, f, g)
		}
		if enc := Encode(nil, fo); !bytes.Equal(enc, data) {
			t.Fatalf("%q: the fast path's document encodes as %q", data, enc)
		}
		if err := checkedFileMetas(fo); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
	})
}

// readAll is everything o's accessors say about it, recursively.
func readAll(v any) any {
	switch v := v.(type) {
	case *Object:
		var out []any
		for i := range v.Len() {
			s, sok := v.StringBytesAt(i)
			n, iok := v.IntAt(i)
			_, ook := v.ObjectAt(i)
			h, l, fok := v.FileMetaAt(i)
			got, _ := v.Get(v.KeyAt(i))
			out = append(out, v.KeyAt(i), v.Index(v.KeyAt(i)), readAll(v.At(i)), readAll(got),
				fmt.Sprintf("%q %v %d %v %v %q %d %v", s, sok, n, iok, ook, h, l, fok))
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = readAll(e)
		}
		return out
	}
	return v
}
