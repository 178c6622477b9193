package canonjson

import (
	"strings"
	"testing"
)

// TestParseCanonical: the parser accepts exactly what notary's canonical
// encoder writes, and says why it refuses the rest.
func TestParseCanonical(t *testing.T) {
	for _, ok := range []string{
		`{}`,
		`{"a":[]}`,
		`{"a":[1,-2,0,true,false,null,"x",{"b":{}}]}`,
		`{"a":9223372036854775807,"b":-9223372036854775808}`,
		"{\"<>&\":\"\u2028\u2029é日本\"}", // canonical mode writes these as they are
		`{"q":"\"\\"}`,                  // the only two escapes it writes
		`{"A":1,"_":2,"a":3}`,           // sorted by bytes: 'A' < '_' < 'a'
		"{\"s\":1,\"ſ\":2}",
	} {
		if _, err := Parse([]byte(ok)); err != nil {
			t.Errorf("Parse(%s) = %v", ok, err)
		}
	}
	for _, bad := range []struct{ in, why string }{
		{``, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`"a"`, "not a JSON object"},
		{`{"a":1}x`, "trailing data"},
		{`{"a":1} `, "trailing data"},
		{`{ "a":1}`, "want an object key"},
		{`{"a": 1}`, "white space"},
		{`{"b":1,"a":2}`, "canonical encoder writes"},
		{`{"a":1,"a":1}`, "duplicate key"},
		{`{"a":"\u0041"}`, "canonical encoder writes"},
		{`{"a":"\/"}`, "canonical encoder writes"},
		{`{"a":"\u003c"}`, "canonical encoder writes"},
		{`{"a":"\u2028"}`, "canonical encoder writes"},
		{`{"a":"\n"}`, "canonical encoder writes"},
		{`{"a":"\u0000"}`, "canonical encoder writes"},
		{"{\"a\":\"\x00\"}", "control character"},
		{"{\"a\":\"\x1f\"}", "control character"},
		{"{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"{\"a\":\"\xc3\"}", "invalid UTF-8"},
		{"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"}, // a surrogate in UTF-8
		{`{"a":"\ud800"}`, "lone UTF-16 surrogate"},
		{`{"a":"\ud800\u0041"}`, "invalid UTF-16 surrogate pair"},
		{`{"a":"\x"}`, "invalid escape"},
		{`{"a":"\u12"}`, "invalid \\u escape"},
		{`{"a":"`, "unterminated string"},
		{`{"a":1.0}`, "fraction or exponent"},
		{`{"a":1e3}`, "fraction or exponent"},
		{`{"a":01}`, "leading zero"},
		{`{"a":-0}`, "-0"},
		{`{"a":-}`, "invalid number"},
		{`{"a":9223372036854775808}`, "out of range"},
		{`{"a":tru}`, "unexpected"},
		{`{"a":[1,]}`, "unexpected"},
		{`{"a":1,}`, "want an object key"},
		{`{"a" :1}`, "want ':'"},
		{`{"a":` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 20) + `}`, "nested deeper"},
		{`{"a":{`, "want an object key"},
	} {
		_, err := Parse([]byte(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", bad.in, err, bad.why)
		}
	}
}
