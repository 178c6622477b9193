// Package canonjson reads JSON that must be exactly what notary's canonical
// encoder writes: the agent's TUF policy signs nothing else.
package canonjson

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The policy signs only bytes that notary's canonical JSON encoder
// (github.com/docker/go/canonical/json, behind notary's
// json.MarshalCanonical) would write for the value they decode to. It
// decodes the payload with the strict parser below, encodes the result the
// way that encoder does, and requires the two to be byte for byte equal.
// Nothing else can then be read two ways: not by another JSON library, not
// by encoding/json's case-insensitive field matching, not by a TUF
// implementation that treats escapes, duplicates or invalid UTF-8 its own way.
//
// What notary's canonical encoder writes, read from its source:
//   - no white space; object keys sorted by their bytes (Go's string order),
//     struct fields and map keys alike;
//   - strings: '"' and '\' escaped as \" and \\, every other byte written as
//     it is (control characters, '<', '>', '&', U+2028 and invalid UTF-8
//     included: canonical mode skips the HTML and JSONP escapes);
//   - numbers: integers only, in Go's strconv.FormatInt form;
//   - true, false, null.
//
// So a canonical payload never holds an escape other than \" and \\, and
// the parser refuses what a canonical payload cannot hold (raw control
// characters, invalid UTF-8, duplicate keys, fractions, exponents) with
// its own reason before the byte comparison would.

// MaxDepth bounds nesting: TUF metadata is at most five levels deep
// (targets → delegations → roles → role → keyids); recursion beyond a
// small depth is an attack on the stack, not metadata.
const MaxDepth = 16

// Object is a decoded JSON object: its keys in the order read, and
// their values. Values are *Object, []any, string, int64, bool or nil.
type Object struct {
	keys []string
	vals map[string]any
}

// Get returns the value of key, matched exactly (case-sensitively).
func (o *Object) Get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// Value returns the value of key, or nil when it is absent (or null: use
// Get to tell the two apart).
func (o *Object) Value(key string) any { return o.vals[key] }

// Keys returns the object's keys in the order read; a parsed object's are
// sorted, since its bytes are canonical. The slice is the object's own:
// callers must not change it.
func (o *Object) Keys() []string { return o.keys }

// Len is the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Parse decodes data strictly and requires it to be exactly what
// notary's canonical encoder writes for the decoded value.
func Parse(data []byte) (*Object, error) {
	p := &jsonParser{data: data}
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(data) {
		return nil, fmt.Errorf("trailing data at byte %d", p.pos)
	}
	obj := v.(*Object)
	enc := Encode(nil, obj)
	if !bytes.Equal(enc, data) {
		return nil, canonicalDiff(data, enc)
	}
	return obj, nil
}

// canonicalDiff says where data and notary's canonical form of it part.
func canonicalDiff(data, enc []byte) error {
	i := 0
	for i < len(data) && i < len(enc) && data[i] == enc[i] {
		i++
	}
	snip := func(b []byte) string {
		end := min(i+12, len(b))
		return strconv.Quote(string(b[i:end]))
	}
	return fmt.Errorf("at byte %d notary's canonical encoder writes %s, the payload has %s (escapes other than \\\" and \\\\, white space and unsorted keys are not canonical)", i, snip(enc), snip(data))
}

type jsonParser struct {
	data []byte
	pos  int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, p.errorf("nested deeper than %d levels", MaxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of data")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case bytes.HasPrefix(p.data[p.pos:], []byte("true")):
		p.pos += 4
		return true, nil
	case bytes.HasPrefix(p.data[p.pos:], []byte("false")):
		p.pos += 5
		return false, nil
	case bytes.HasPrefix(p.data[p.pos:], []byte("null")):
		p.pos += 4
		return nil, nil
	default:
		return nil, p.errorf("unexpected %q (white space is not canonical)", c)
	}
}

func (p *jsonParser) expect(c byte) error {
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of data, want %q", c)
	}
	if p.data[p.pos] != c {
		return p.errorf("unexpected %q, want %q", p.data[p.pos], c)
	}
	p.pos++
	return nil
}

func (p *jsonParser) object(depth int) (*Object, error) {
	p.pos++ // '{'
	obj := &Object{vals: map[string]any{}}
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("want an object key")
		}
		at := p.pos
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		if _, dup := obj.vals[key]; dup {
			return nil, fmt.Errorf("at byte %d: duplicate key %q", at, key)
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj.keys = append(obj.keys, key)
		obj.vals[key] = v
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			return obj, nil
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
	}
}

func (p *jsonParser) array(depth int) ([]any, error) {
	p.pos++ // '['
	arr := []any{}
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			return arr, nil
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
	}
}

// string decodes a JSON string, refusing what RFC 8259 refuses (raw
// control characters, bad escapes, lone surrogates) and invalid UTF-8.
func (p *jsonParser) string() (string, error) {
	p.pos++ // '"'
	var b []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.errorf("control character 0x%02x in a string", c)
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errorf("invalid UTF-8")
			}
			b = append(b, p.data[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

func (p *jsonParser) escape() (rune, error) {
	if p.pos+1 >= len(p.data) {
		return 0, p.errorf("unterminated escape")
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if !bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
				return 0, p.errorf("lone UTF-16 surrogate")
			}
			p.pos += 2
			r2, err := p.hex4()
			if err != nil {
				return 0, err
			}
			r = utf16.DecodeRune(r, r2)
			if r == utf8.RuneError {
				return 0, p.errorf("invalid UTF-16 surrogate pair")
			}
		}
		return r, nil
	}
	return 0, p.errorf("invalid escape \\%c", c)
}

func (p *jsonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// number accepts the integers notary writes: -?(0|[1-9][0-9]*) within
// int64, no "-0", no fraction, no exponent.
func (p *jsonParser) number() (int64, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	lit := string(p.data[start:p.pos])
	switch {
	case p.pos == digits:
		return 0, p.errorf("invalid number %q", lit)
	case p.pos < len(p.data) && (p.data[p.pos] == '.' || p.data[p.pos] == 'e' || p.data[p.pos] == 'E'):
		return 0, p.errorf("number %q has a fraction or exponent; notary writes integers only", lit)
	case p.data[digits] == '0' && p.pos-digits > 1:
		return 0, p.errorf("number %q has a leading zero", lit)
	case lit == "-0":
		return 0, p.errorf("number -0 is not canonical")
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return 0, p.errorf("number %q is out of range", lit)
	}
	return n, nil
}

// Encode appends v as notary's canonical encoder writes it.
func Encode(b []byte, v any) []byte {
	switch v := v.(type) {
	case *Object:
		keys := append([]string(nil), v.keys...)
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = encodeString(b, k)
			b = append(b, ':')
			b = Encode(b, v.vals[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = Encode(b, e)
		}
		return append(b, ']')
	case string:
		return encodeString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	case nil:
		return append(b, "null"...)
	}
	panic(fmt.Sprintf("agent: Encode: unexpected %T", v))
}

// encodeString escapes '"' and '\' only: canonical mode writes every other
// byte as it is.
func encodeString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
