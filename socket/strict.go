package socket

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// checkStrict walks body, a whole JSON text, against the type of v (a
// pointer to a request struct) before encoding/json decodes it, and refuses
// what encoding/json would let through but a request must not carry:
//
//   - a field name that is not exactly (byte for byte, case included) one of
//     the struct's json names, embedded structs' promoted fields included
//     (encoding/json matches "KEY_ID" to key_id);
//   - a field that appears twice (encoding/json keeps the last);
//   - null, for the body or for any value (encoding/json leaves the zero);
//   - invalid UTF-8, raw or as an escaped lone surrogate (encoding/json
//     turns both into U+FFFD);
//   - a []byte that is not standard, padded, canonical base64 written with
//     its alphabet alone (encoding/json skips \r and \n, and accepts
//     non-zero padding bits, so two strings could carry the same bytes);
//   - a time that is not an RFC 3339 string;
//   - an integer with a fraction or exponent, or out of range;
//   - anything but JSON whitespace after the value.
//
// The walk is bounded by the type: a value of an unexpected JSON type is
// refused where it starts, so no depth or size beyond the frame's is spent.
// Errors quote at most maxQuote bytes of what they found.
//
// A top-level field named bulk (when not empty) is refused too: in a request
// with a bulk field that field travels as raw bytes after the JSON, and only
// there, so there is one way to send it.
func checkStrict(body []byte, v any, bulk string) error {
	s := &scanner{b: body, bulk: bulk}
	s.skipSpace()
	if err := s.value(reflect.TypeOf(v).Elem(), "body"); err != nil {
		return err
	}
	s.skipSpace()
	if s.i != len(s.b) {
		return s.errf("data after the JSON value; send exactly one object per frame")
	}
	return nil
}

// maxQuote bounds how much of a request an error message repeats, so a
// refusal of a 16 MiB field does not write 16 MiB to the log or the audit.
const maxQuote = 64

var timeType = reflect.TypeFor[time.Time]()

type scanner struct {
	b    []byte
	i    int
	bulk string // a field of the body's object that must not appear: it follows the JSON
}

// names lists the field names an object at where may carry, for errors:
// the body's bulk field is not among them.
func (s *scanner) names(f *structFields, where string) string {
	if where != "body" || s.bulk == "" {
		return f.list
	}
	var keep []string
	for _, n := range strings.Split(f.list, ", ") {
		if n != s.bulk {
			keep = append(keep, n)
		}
	}
	return strings.Join(keep, ", ")
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: "+format, append([]any{s.i}, args...)...)
}

func quote(b []byte) string {
	if len(b) > maxQuote {
		return strconv.Quote(string(b[:maxQuote])) + "..."
	}
	return strconv.Quote(string(b))
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value checks one JSON value against t; where names the value in errors.
func (s *scanner) value(t reflect.Type, where string) error {
	if s.i >= len(s.b) {
		return s.errf("%s: the body ends where a value is needed", where)
	}
	if s.peek() == 'n' {
		return s.errf("%s: null is not a value here; leave the field out or send a %s", where, jsonKind(t))
	}
	switch {
	case t.Kind() == reflect.Pointer:
		return s.value(t.Elem(), where)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		return s.mapObject(t.Elem(), where)
	case t == timeType:
		str, raw, err := s.str(where)
		if err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			return s.errf("%s: %s is not an RFC 3339 time (2006-01-02T15:04:05Z)", where, quote(raw))
		}
		return nil
	case t.Kind() == reflect.Struct:
		return s.object(t, where)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return s.base64(where)
	case t.Kind() == reflect.Slice:
		return s.array(t.Elem(), where)
	case t.Kind() == reflect.String:
		_, _, err := s.str(where)
		return err
	case t.Kind() == reflect.Bool:
		for _, lit := range []string{"true", "false"} {
			if strings.HasPrefix(string(s.b[s.i:min(len(s.b), s.i+5)]), lit) {
				s.i += len(lit)
				return nil
			}
		}
		return s.errf("%s: want true or false", where)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64,
		t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return s.integer(t, where)
	}
	// A request type this checker does not know how to walk is a bug here,
	// not the client's: refuse rather than let it through unchecked.
	return fmt.Errorf("%s: socket cannot check a %s strictly", where, t)
}

func jsonKind(t reflect.Type) string {
	switch {
	case t == timeType:
		return "string (RFC 3339 time)"
	case t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "string (base64)"
	case t.Kind() == reflect.Slice:
		return "array"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	}
	return "number"
}

func (s *scanner) object(t reflect.Type, where string) error {
	if s.peek() != '{' {
		return s.errf("%s: want a JSON object", where)
	}
	s.i++
	fields := fieldsOf(t)
	seen := make(map[string]bool, len(fields.byName))
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.skipSpace()
		start := s.i
		name, raw, err := s.str(where + " field name")
		if err != nil {
			return err
		}
		ft, ok := fields.byName[name]
		if top := where == "body"; top && s.bulk != "" && name == s.bulk {
			s.i = start
			return s.errf("%s: field %q goes after the JSON as raw bytes in protocol version %d, not in it", where, name, Version)
		}
		if !ok {
			s.i = start
			return s.errf("%s: unknown field %s; field names are case-sensitive and must be one of %s",
				where, quote(raw), s.names(fields, where))
		}
		if seen[name] {
			s.i = start
			return s.errf("%s: field %q appears twice; send each field once", where, name)
		}
		seen[name] = true
		s.skipSpace()
		if s.peek() != ':' {
			return s.errf("%s: want ':' after field %q", where, name)
		}
		s.i++
		s.skipSpace()
		if err := s.value(ft, fmt.Sprintf("%s field %q", where, name)); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("%s: want ',' or '}' after field %q", where, name)
		}
	}
}

// mapObject checks an object with free keys (a map[string]T): keys are
// strings, each at most once.
func (s *scanner) mapObject(elem reflect.Type, where string) error {
	if s.peek() != '{' {
		return s.errf("%s: want a JSON object", where)
	}
	s.i++
	seen := map[string]bool{}
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.skipSpace()
		start := s.i
		name, _, err := s.str(where + " key")
		if err != nil {
			return err
		}
		if seen[name] {
			s.i = start
			return s.errf("%s: key %s appears twice; send each key once", where, quote([]byte(name)))
		}
		seen[name] = true
		s.skipSpace()
		if s.peek() != ':' {
			return s.errf("%s: want ':' after a key", where)
		}
		s.i++
		s.skipSpace()
		if err := s.value(elem, where+"["+quote([]byte(name))+"]"); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("%s: want ',' or '}'", where)
		}
	}
}

// checkable reports a type checkStrict cannot walk, inside t.
func checkable(t reflect.Type) error {
	switch {
	case t.Kind() == reflect.Pointer:
		return checkable(t.Elem())
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		return checkable(t.Elem())
	case t == timeType, t.Kind() == reflect.String, t.Kind() == reflect.Bool,
		t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64,
		t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return nil
	case t.Kind() == reflect.Slice:
		return checkable(t.Elem())
	case t.Kind() == reflect.Struct:
		for name, ft := range fieldsOf(t).byName {
			if err := checkable(ft); err != nil {
				return fmt.Errorf("field %q: %w", name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("socket cannot check a %s strictly", t)
}

func (s *scanner) array(elem reflect.Type, where string) error {
	if s.peek() != '[' {
		return s.errf("%s: want a JSON array", where)
	}
	s.i++
	s.skipSpace()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		s.skipSpace()
		if err := s.value(elem, fmt.Sprintf("%s[%d]", where, n)); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("%s: want ',' or ']' after element %d", where, n)
		}
	}
}

// str reads a JSON string and returns its value and its raw bytes between
// the quotes. It refuses control characters, unknown escapes, invalid UTF-8
// and escaped surrogates that do not pair.
func (s *scanner) str(where string) (string, []byte, error) {
	if s.peek() != '"' {
		return "", nil, s.errf("%s: want a JSON string", where)
	}
	s.i++
	start := s.i
	var out []byte
	plain := true // no escapes so far: the value is the raw bytes
	for {
		if s.i >= len(s.b) {
			return "", nil, s.errf("%s: unterminated string", where)
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if plain {
				return string(raw), raw, nil
			}
			return string(out), raw, nil
		case c < 0x20:
			return "", nil, s.errf("%s: control character 0x%02x in a string; escape it", where, c)
		case c == '\\':
			if plain {
				out = append(out, s.b[start:s.i]...)
				plain = false
			}
			r, err := s.escape(where)
			if err != nil {
				return "", nil, err
			}
			out = utf8.AppendRune(out, r)
		case c < utf8.RuneSelf:
			if !plain {
				out = append(out, c)
			}
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", nil, s.errf("%s: invalid UTF-8; strings must be UTF-8", where)
			}
			if !plain {
				out = append(out, s.b[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
}

// escape reads one escape sequence at s.i (on the backslash).
func (s *scanner) escape(where string) (rune, error) {
	if s.i+1 >= len(s.b) {
		return 0, s.errf("%s: unterminated escape", where)
	}
	c := s.b[s.i+1]
	s.i += 2
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
		r, err := s.hex4(where)
		if err != nil {
			return 0, err
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r < 0xDC00 && strings.HasPrefix(string(s.b[s.i:min(len(s.b), s.i+2)]), `\u`) {
			s.i += 2
			r2, err := s.hex4(where)
			if err != nil {
				return 0, err
			}
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, nil
			}
		}
		return 0, s.errf("%s: escaped surrogate that does not pair is not UTF-8", where)
	}
	return 0, s.errf("%s: unknown escape \\%c", where, c)
}

func (s *scanner) hex4(where string) (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, s.errf("%s: short \\u escape", where)
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 16)
	if err != nil {
		return 0, s.errf("%s: bad \\u escape", where)
	}
	s.i += 4
	return rune(v), nil
}

// base64 checks a []byte field: a string of the standard alphabet with
// padding, no escapes, no line breaks, zero padding bits.
func (s *scanner) base64(where string) error {
	if s.peek() != '"' {
		return s.errf("%s: want a base64 string", where)
	}
	start := s.i + 1
	end := start
	for end < len(s.b) && s.b[end] != '"' {
		c := s.b[end]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			s.i = end
			return s.errf("%s: byte 0x%02x is not standard base64; send standard base64 with padding, no line breaks or escapes", where, c)
		}
		end++
	}
	if end >= len(s.b) {
		s.i = end
		return s.errf("%s: unterminated string", where)
	}
	raw := s.b[start:end]
	if _, err := base64.StdEncoding.Strict().DecodeString(string(raw)); err != nil {
		s.i = start
		return s.errf("%s: not canonical standard base64 with padding (%v)", where, err)
	}
	s.i = end + 1
	return nil
}

// integer checks a JSON number written as an integer that fits t.
func (s *scanner) integer(t reflect.Type, where string) error {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	switch {
	case s.i == digits:
		s.i = start
		return s.errf("%s: want an integer", where)
	case s.b[digits] == '0' && s.i-digits > 1:
		s.i = start
		return s.errf("%s: leading zero in a number", where)
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		s.i = start
		return s.errf("%s: want an integer, without fraction or exponent", where)
	}
	num := string(s.b[start:s.i])
	var err error
	if t.Kind() >= reflect.Uint {
		_, err = strconv.ParseUint(num, 10, t.Bits())
	} else {
		_, err = strconv.ParseInt(num, 10, t.Bits())
	}
	if err != nil {
		s.i = start
		return s.errf("%s: %s does not fit a %s", where, quote([]byte(num)), t)
	}
	return nil
}

// structFields is what checkStrict needs of a struct: its JSON field names
// and types, as encoding/json sees them.
type structFields struct {
	byName map[string]reflect.Type
	list   string // the names, for error messages
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf lists t's JSON fields the way encoding/json does: exported
// fields by tag name or Go name, "-" skipped, untagged embedded structs
// flattened, a shallower field hiding deeper ones of the same name, and
// names at the same depth cancelling each other out.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	type found struct {
		typ   reflect.Type
		depth int
		dup   bool
	}
	all := map[string]*found{}
	var order []string
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" && tag == "-" {
				continue
			}
			if f.Anonymous && (!hasTag || name == "") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, depth+1)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			switch prev := all[name]; {
			case prev == nil:
				all[name] = &found{typ: f.Type, depth: depth}
				order = append(order, name)
			case depth < prev.depth:
				*prev = found{typ: f.Type, depth: depth}
			case depth == prev.depth:
				prev.dup = true
			}
		}
	}
	walk(t, 0)
	sf := &structFields{byName: map[string]reflect.Type{}}
	var names []string
	for _, n := range order {
		if f := all[n]; !f.dup {
			sf.byName[n] = f.typ
			names = append(names, n)
		}
	}
	sf.list = strings.Join(names, ", ")
	f, _ := fieldCache.LoadOrStore(t, sf)
	return f.(*structFields)
}
