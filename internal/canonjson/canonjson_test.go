package canonjson

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
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
		`{"a":9007199254740992,"b":-9007199254740992}`, // ±2^53: exact as float64
		"{\"<>&\":\"\u2028\u2029é日本\"}",                // canonical mode writes these as they are
		`{"q":"\"\\"}`,                                 // the only two escapes it writes
		`{"A":1,"_":2,"a":3}`,                          // sorted by bytes: 'A' < '_' < 'a'
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
		{`{"b":1,"a":2}`, `at byte 7: key "a" after "b": notary's canonical encoder writes keys sorted by their bytes`},
		{`{"a":{"b":1,"a":2}}`, `at byte 12: key "a" after "b"`},
		{`{"b":{"a":1},"a":2}`, `at byte 13: key "a" after "b"`}, // the order is per object
		{`{"a":[{"b":1},{"a":1,"b":2,"a":3}]}`, `at byte 27: key "a" after "b"`},
		{`{"a":1,"a":1}`, `at byte 7: duplicate key "a"`},
		{`{"\\":1,"\\":1}`, `at byte 8: duplicate key "\\"`}, // compared decoded
		{`{"b":1,"\"":1}`, `at byte 7: key "\"" after "b"`},
		{`{"a":"\u0041"}`, `at byte 6: escape \u0041 is not canonical`},
		{`{"a":"\/"}`, `at byte 6: escape \/ is not canonical`},
		{`{"a":"\u003c"}`, `at byte 6: escape \u003c is not canonical`},
		{`{"a":"\u2028"}`, `at byte 6: escape \u2028 is not canonical`},
		{`{"a":"\n"}`, `at byte 6: escape \n is not canonical`},
		{`{"a":"\b\f\r\t"}`, `at byte 6: escape \b is not canonical`},
		{`{"a":"x\t"}`, `at byte 7: escape \t is not canonical`},
		{`{"a":"\u0000"}`, `at byte 6: escape \u0000 is not canonical`},
		{`{"\u0061":1}`, `at byte 2: escape \u0061 is not canonical`},
		{`{"a":"\"\\\u0041"}`, `at byte 10: escape \u0041 is not canonical`},
		{"{\"a\":\"\x00\"}", "control character"},
		{"{\"a\":\"\x1f\"}", "control character"},
		{"{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"{\"a\":\"\xc3\"}", "invalid UTF-8"},
		{"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"}, // a surrogate in UTF-8
		{`{"a":"\ud800"}`, `at byte 6: escape \ud800 is not canonical`},
		{`{"a":"\x"}`, "invalid escape"},
		{`{"a":"\u12"}`, "at byte 6: invalid \\u escape"},
		{`{"a":"\u12`, "at byte 6: short \\u escape"},
		{`{"a":"\`, "at byte 6: unterminated escape"},
		{"{\"a\":\"\xe6\x97\xa5\xff\"}", "at byte 9: invalid UTF-8"},
		{"{\"a\":\"ok\x7f\x01\"}", "at byte 9: control character 0x01"},
		{`{"a":"`, "unterminated string"},
		{`{"a":1.0}`, "fraction or exponent"},
		{`{"a":+1}`, "unexpected '+'"},
		{`{"a":-9223372036854775809}`, "out of range"},
		{`{"a":12345678901234567890123}`, "out of range"},
		{`{"a":1e3}`, "fraction or exponent"},
		{`{"a":01}`, "leading zero"},
		{`{"a":-0}`, "-0"},
		{`{"a":-}`, "invalid number"},
		{`{"a":9223372036854775808}`, "out of range"},
		{`{"a":9223372036854775807}`, "out of range"},   // notary's verifier reads -2^63
		{`{"a":9007199254740993}`, "exact only within"}, // 2^53+1: read back as 2^53
		{`{"a":-9007199254740993}`, "exact only within"},
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

// TestParseEncodeRoundTrip: what Parse accepts, Encode writes back byte
// for byte (the parse checked canonical form; nothing was re-encoded).
func TestParseEncodeRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{}`, `{"a":[]}`, `{"a":[[],{},[1,[2,{"b":null}]]],"b":"\"\\"}`,
		`{"a":-9007199254740992,"b":true,"c":false,"d":null,"e":""}`,
		string(targets1MiB()),
		bigObjects(1000, 3, 5000, 70, 4096, 4097, 16384, 1),
		bigObjects(100, 300, 500, 511, 512, 513, 2, 2047, 2048, 2049),
		`{"a":` + string(bigObjects(1000)) + `,"b":` + string(bigObjects(4000, 4000, 4000, 4000, 4000)) + `}`,
	} {
		o, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%.40q) = %v", in, err)
		}
		if out := string(Encode(nil, o)); out != in {
			t.Errorf("Encode(Parse(%.40q)) = %.40q", in, out)
		}
	}
}

// TestObjectAccessors: lookups by exact name (binary search above 8
// keys), typed reads that refuse other types, values as interfaces.
func TestObjectAccessors(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 20 {
		fmt.Fprintf(&b, `"k%02d":%d,`, i, i)
	}
	b.WriteString(`"m":{"a":"x\"y"},"n":null,"s":"str","t":true,"u":["a",1,{}]}`)
	o, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if o.Len() != 25 || len(o.Keys()) != 25 || o.KeyAt(3) != "k03" {
		t.Fatalf("Len %d, Keys %q", o.Len(), o.Keys())
	}
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		if j := o.Index(k); j != i {
			t.Errorf("Index(%s) = %d", k, j)
		}
		if n, ok := o.IntAt(i); !ok || n != int64(i) {
			t.Errorf("IntAt(%d) = %d, %v", i, n, ok)
		}
		if v, ok := o.Get(k); !ok || v != int64(i) {
			t.Errorf("Get(%s) = %v, %v", k, v, ok)
		}
	}
	for _, k := range []string{"", "K00", "k20", "k0", "zz", "m\x00"} {
		if o.Index(k) != -1 || o.Value(k) != nil {
			t.Errorf("Index(%q) = %d", k, o.Index(k))
		}
	}
	s := o.Index("s")
	if v, ok := o.StringAt(s); !ok || v != "str" {
		t.Errorf("StringAt = %q, %v", v, ok)
	}
	if n, ok := o.IntAt(s); ok || n != 0 {
		t.Errorf("IntAt of a string = %d, %v", n, ok)
	}
	if _, ok := o.ObjectAt(s); ok {
		t.Error("ObjectAt of a string")
	}
	if v, ok := o.StringAt(0); ok || v != "" {
		t.Errorf("StringAt of an integer = %q, %v", v, ok)
	}
	m, ok := o.ObjectAt(o.Index("m"))
	if !ok || m.Value("a") != `x"y` {
		t.Errorf("m = %v, %v", m, ok)
	}
	if _, ok := o.ObjectAt(o.Index("n")); ok {
		t.Error("ObjectAt of null")
	}
	if v, ok := o.Get("n"); !ok || v != nil {
		t.Errorf("Get(n) = %v, %v", v, ok)
	}
	if o.Value("t") != true {
		t.Errorf("t = %v", o.Value("t"))
	}
	u, ok := o.Value("u").([]any)
	if !ok || len(u) != 3 || u[0] != "a" || u[1] != int64(1) {
		t.Fatalf("u = %#v", o.Value("u"))
	}
	if e, ok := u[2].(*Object); !ok || e.Len() != 0 {
		t.Errorf("u[2] = %#v", u[2])
	}
	var zero Object
	if zero.Len() != 0 || zero.Index("a") != -1 || len(zero.Keys()) != 0 || string(Encode(nil, &zero)) != "{}" {
		t.Error("the zero Object is not the empty object")
	}
}

// TestSpecial: the 8-byte test finds the first byte the byte table does
// not mark plain, for every byte value at every position among plain ones,
// and in random words.
func TestSpecial(t *testing.T) {
	check := func(w [8]byte) {
		want := 8
		for i, c := range w {
			if !plain[c] {
				want = i
				break
			}
		}
		if got := bits.TrailingZeros64(special(binary.LittleEndian.Uint64(w[:]))) / 8; got != want {
			t.Fatalf("special(%q) marks byte %d first, want %d", w, got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', '~', '!', '#', '[', ']', 0x7f} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		for i := range w { // mostly plain bytes, as in metadata
			if r.IntN(4) != 0 {
				w[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		check(w)
	}
}

// bigObjects is an object holding objects of the given sizes, in turn, so
// that containers of every size meet slabs of every fill.
func bigObjects(sizes ...int) string {
	var b strings.Builder
	b.WriteString(`{`)
	for i, n := range sizes {
		if i > 0 {
			b.WriteString(`,`)
		}
		fmt.Fprintf(&b, `"o%03d":{`, i)
		for j := range n {
			if j > 0 {
				b.WriteString(`,`)
			}
			fmt.Fprintf(&b, `"k%06d":%d`, j, j)
		}
		b.WriteString(`}`)
	}
	b.WriteString(`}`)
	return b.String()
}

// TestKeyIs: exact, case-sensitive, escapes decoded.
func TestKeyIs(t *testing.T) {
	o, err := Parse([]byte(`{"\"q":1,"a":2,"ab":3}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{`"q`, "a", "ab"} {
		if !o.KeyIs(i, k) || o.KeyIs(i, k+"x") || o.KeyIs(i, strings.ToUpper(k)) {
			t.Errorf("KeyIs(%d, %q) wrong", i, k)
		}
	}
}
