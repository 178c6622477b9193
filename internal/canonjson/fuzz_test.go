package canonjson

import (
	"bytes"
	"strconv"
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
		`{"a":9223372036854775807,"b":-9223372036854775808}`,
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
// integers in FormatInt form within int64, no deeper than MaxDepth.
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
		return err == nil && strconv.FormatInt(n, 10) == string(v)
	}
	return true
}
