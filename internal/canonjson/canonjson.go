// Package canonjson reads JSON that must be exactly what notary's canonical
// encoder writes: the agent's TUF policy signs nothing else.
package canonjson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The policy signs only bytes that notary's canonical JSON encoder
// (github.com/docker/go/canonical/json, behind notary's
// json.MarshalCanonical) would write for the value they decode to. Parse
// checks that in the same single pass that decodes: every rule below is a
// rule about one place in the input, so a payload that breaks none of them
// is, byte for byte, what that encoder writes for the decoded value (Encode
// writes it back unchanged: FuzzParse checks this). Nothing else can then
// be read two ways: not by another JSON library, not by encoding/json's
// case-insensitive field matching, not by a TUF implementation that treats
// escapes, duplicates or invalid UTF-8 its own way.
//
// What notary's canonical encoder writes, read from its source, and the
// check for each:
//   - no white space: no value, key, ':' or ',' may start with one;
//   - object keys sorted by their bytes (Go's string order), struct fields
//     and map keys alike: each decoded key must be greater than the one
//     before it in its object (equal is a duplicate);
//   - strings: '"' and '\' escaped as \" and \\, every other byte written as
//     it is (control characters, '<', '>', '&', U+2028 and invalid UTF-8
//     included: canonical mode skips the HTML and JSONP escapes): any other
//     escape is refused, raw control characters (not JSON) and invalid
//     UTF-8 (which the encoder would copy through, but no decoder reads
//     back the same) too;
//   - numbers: integers only, in Go's strconv.FormatInt form (no '+', "-0",
//     leading zero, fraction or exponent), within int64;
//   - true, false, null.

// MaxDepth bounds nesting: TUF metadata is at most five levels deep
// (targets → delegations → roles → role → keyids); recursion beyond a
// small depth is an attack on the stack, not metadata.
const MaxDepth = 16

// Object is a decoded JSON object: its keys, strictly ascending by their
// bytes (a parsed object's are: its bytes are canonical), and their values.
// Values, as Get, Value and At return them, are *Object, []any, string,
// int64, bool or nil. Index, KeyIs, IntAt, ObjectAt and StringBytesAt read
// without allocating; KeyAt, Keys and StringAt return copies.
//
// An Object is a small handle (a document and a slice of its members),
// cheap to copy. The zero Object is the empty object. An Object is
// read-only once Parse returns it, and safe to read from several
// goroutines until its document is released (Release), if ever.
type Object struct {
	d   *document
	mem []member // its members (an array's: its elements)
}

// document is what Parse decodes: the text, the containers' members in
// slabs, and the decoded text of the strings with escapes. Members hold no
// pointers: the garbage collector does not scan them, and writing them
// costs no write barrier.
type document struct {
	b     []byte // the caller's data: not copied
	slabs [][]member
	unesc [][]byte
	// large are the buffers that hold the slabs of containers of more
	// than maxSlab/4 members (parser stacks, handed over whole), which
	// Release hands back to largeSlabs.
	large []*[]member
}

// largeSlabs keeps large containers' buffers from released documents
// (Object.Release) for the next Parse's stack: a large targets map's
// members are the bulk of what Parse allocates, and a policy that signs
// megabytes of metadata would otherwise give the garbage collector as
// much to do as the parse itself. A large container is read onto the
// parser's stack and handed to the document there (finish), so its
// members are written once, and the stack and this pool trade buffers.
var largeSlabs sync.Pool // of *[]member

// maxPooledSlab bounds the buffers largeSlabs keeps (members: 1 MiB, the
// members of about 65,000 targets); a larger one is left to the garbage
// collector, so that one huge payload does not stay in memory.
const maxPooledSlab = maxPooledStack

// Release hands the memory of the document o was parsed into (the whole
// document, whichever of its objects o is) back for the next Parse to
// reuse, and empties o. Neither o nor any Object, array or byte slice read
// from the document (ObjectAt, Value, StringBytesAt, FileMetaAt, ...) may
// be used after it: another document's members may then be where theirs
// were (what Release can, it makes fail loudly: the document forgets its
// data, so reading a key or string through it panics). Strings copied
// out (KeyAt, StringAt, Keys, and the strings of Get, Value and At) stay
// valid. Calling Release is optional: without it the garbage collector
// takes the memory, as usual.
func (o *Object) Release() {
	d := o.d
	*o = Object{}
	if d == nil {
		return
	}
	for _, box := range d.large {
		if cap(*box) <= maxPooledSlab {
			largeSlabs.Put(box)
		}
	}
	*d = document{}
}

// A container's place is slabs[slab][off : off+n], packed in an int64 as
// slab<<contSlabShift | off<<contOffShift | n. Parse's bounds keep each
// part in its bits: n < 2^28 (maxInput), off < maxSlab = 2^11 (a container
// of more than maxSlab/4 members has a slab of its own, at 0), and fewer
// than 2^19 slabs: a member takes 2 bytes of input or more, so there are
// at most 2^28/1024 large containers' slabs and 2^28/3072 shared ones (each
// but the last few filled to maxSlab*3/4 members at least).
const (
	contOffShift  = 30
	contSlabShift = 44
)

// member is an object's key and value, or an array's element (no key).
// The key is b[koff : koff+klen], or unesc[koff] when it had escapes;
// kmeta is klen<<4 | escaped<<3 | the value's kind. The value is n: an
// integer (bool: 1 for true), a string (off<<32 | len, or index<<32 |
// escapedLen: unesc[index]), or a container's place.
type member struct {
	koff  uint32
	kmeta uint32
	n     int64
}

const (
	kindMask   = 7
	keyEscaped = 8
	escapedLen = 1<<32 - 1
)

// maxInput bounds what Parse reads, so that a length fits a member's
// 28 bits; frames are far smaller (socket's maxFrameBytes, 16 MiB).
const maxInput = 1<<28 - 1

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindInt
	kindString
	kindObject
	kindArray
	// kindFile and kindFileHashes are objects of the fast path's shape
	// (fast.go), kept as one member: read as objects, built on demand.
	kindFile
	kindFileHashes
)

func (m *member) kind() kind { return kind(m.kmeta & kindMask) }

// key is m's key, a part of d.b (or of d.unesc): string(key) copies it.
func (d *document) key(m *member) []byte {
	if m.kmeta&keyEscaped != 0 {
		return d.unesc[m.koff]
	}
	return d.b[m.koff : m.koff+m.kmeta>>4]
}

// str is the string n, a part of d.b (or of d.unesc).
func (d *document) str(n int64) []byte {
	off, l := uint32(n>>32), uint32(n)
	if l == escapedLen {
		return d.unesc[off]
	}
	return d.b[off : off+l]
}

func (d *document) cont(c int64) Object {
	n := c & (1<<contOffShift - 1)
	if n == 0 {
		return Object{d: d}
	}
	off := c >> contOffShift & (1<<(contSlabShift-contOffShift) - 1)
	return Object{d: d, mem: d.slabs[c>>contSlabShift][off : off+n : off+n]}
}

func (d *document) any(m *member) any {
	switch m.kind() {
	case kindBool:
		return m.n != 0
	case kindInt:
		return m.n
	case kindString:
		return string(d.str(m.n))
	case kindObject, kindFile, kindFileHashes:
		o := d.object(m)
		return &o
	case kindArray:
		a := d.cont(m.n)
		arr := make([]any, len(a.mem))
		for i := range arr {
			arr[i] = d.any(&a.mem[i])
		}
		return arr
	}
	return nil
}

// KeyAt returns the i-th key (a copy).
func (o *Object) KeyAt(i int) string { return string(o.d.key(&o.mem[i])) }

// KeyIs reports whether the i-th key is key, without copying it.
func (o *Object) KeyIs(i int, key string) bool { return string(o.d.key(&o.mem[i])) == key }

// Index returns the position of key (matched exactly, case-sensitively) in
// Keys, or -1 when the object lacks it.
func (o *Object) Index(key string) int {
	n := len(o.mem)
	// string(…) in a comparison does not copy.
	if n <= 8 {
		for i := range n {
			if string(o.d.key(&o.mem[i])) == key {
				return i
			}
		}
		return -1
	}
	i := sort.Search(n, func(i int) bool { return string(o.d.key(&o.mem[i])) >= key })
	if i < n && string(o.d.key(&o.mem[i])) == key {
		return i
	}
	return -1
}

// Get returns the value of key, matched exactly (case-sensitively).
func (o *Object) Get(key string) (any, bool) {
	i := o.Index(key)
	if i < 0 {
		return nil, false
	}
	return o.At(i), true
}

// Value returns the value of key, or nil when it is absent (or null: use
// Get to tell the two apart).
func (o *Object) Value(key string) any {
	v, _ := o.Get(key)
	return v
}

// At returns the value of the i-th key.
func (o *Object) At(i int) any { return o.d.any(&o.mem[i]) }

// StringAt returns the value of the i-th key (a copy) if it is a string.
func (o *Object) StringAt(i int) (string, bool) {
	b, ok := o.StringBytesAt(i)
	return string(b), ok
}

// StringBytesAt returns the value of the i-th key if it is a string,
// without copying it: the bytes are a part of the data Parse read (or of
// the object, for a string with escapes), to read while the object is in
// use, never to change or keep.
func (o *Object) StringBytesAt(i int) ([]byte, bool) {
	m := &o.mem[i]
	if m.kind() != kindString {
		return nil, false
	}
	return o.d.str(m.n), true
}

// IntAt returns the value of the i-th key if it is an integer.
func (o *Object) IntAt(i int) (int64, bool) {
	m := &o.mem[i]
	if m.kind() != kindInt {
		return 0, false
	}
	return m.n, true
}

// ObjectAt returns the value of the i-th key if it is an object (not null).
func (o *Object) ObjectAt(i int) (Object, bool) {
	m := &o.mem[i]
	switch m.kind() {
	case kindObject, kindFile, kindFileHashes:
		return o.d.object(m), true
	}
	return Object{}, false
}

// Keys returns copies of the object's keys, strictly ascending by their
// bytes; Index and Len, with KeyAt, read fewer.
func (o *Object) Keys() []string {
	keys := make([]string, len(o.mem))
	for i := range keys {
		keys[i] = o.KeyAt(i)
	}
	return keys
}

// Len is the number of keys.
func (o *Object) Len() int { return len(o.mem) }

// Parse decodes data strictly and requires it to be exactly what
// notary's canonical encoder writes for the decoded value; its errors say
// at which byte, and why.
//
// The result refers to data, which is not copied: the caller must not
// change data while it uses the result. Every string the result hands out
// (Get, Value, At, Keys, KeyAt, StringAt) is a copy, safe to keep; only
// StringBytesAt's are not.
func Parse(data []byte) (*Object, error) {
	return parse(data, true)
}

// parse is Parse, with the fast path for file metadata (fast.go) or
// without it (FuzzFastPath's generic side).
func parse(data []byte, fast bool) (*Object, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("larger than %d bytes", maxInput)
	}
	p := parsers.Get().(*parser)
	defer p.release()
	p.d = &document{b: data}
	p.b = data
	p.noFast = !fast
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.b) {
		return nil, fmt.Errorf("trailing data at byte %d", p.pos)
	}
	o := p.d.cont(root.n)
	return &o, nil
}

type parser struct {
	d   *document
	b   []byte // the caller's data
	pos int
	// The members of the containers being read, innermost last; a
	// finished container's move to a slab.
	stack []member
	// The slab finished containers' members are cut from, how much of it
	// they use, and the length of the last one allocated: containers cost
	// a few allocations a document, not one each.
	slab  []member
	slabi uint32 // slab's index in d.slabs
	used  int
	chunk int
	// noFast turns the fast path for file metadata off.
	noFast bool
}

// parsers keeps parsers' stacks from one Parse to the next.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxPooledStack bounds the stack a pooled parser keeps (members).
const maxPooledStack = 1 << 16

func (p *parser) release() {
	stack := p.stack[:0]
	if cap(stack) > maxPooledStack {
		stack = nil
	}
	*p = parser{stack: stack}
	parsers.Put(p)
}

// Slabs start at minSlab members and double up to maxSlab; a container of
// more than maxSlab/4 members gets a slab of its own.
const (
	minSlab = 64
	maxSlab = 1 << 11
)

// finish makes the members pushed since base a container, and returns
// its place.
func (p *parser) finish(base int) int64 {
	d := p.d
	n := len(p.stack) - base
	var slab, off int
	switch {
	case n == 0:
	case n > maxSlab/4:
		// The stack's top becomes the container's slab where it is, not
		// copied; the parser goes on on another buffer (a released
		// document's, or a new one as large) with the members below.
		slab = len(d.slabs)
		old := p.stack
		box, _ := largeSlabs.Get().(*[]member)
		if box == nil {
			box = new([]member)
		}
		next := *box
		if cap(next) < base+minSlab {
			next = make([]member, 0, cap(old))
		}
		p.stack = append(next[:0], old[:base]...)
		*box = old[:0]
		d.large = append(d.large, box)
		d.slabs = append(d.slabs, old[base:base+n:base+n])
	default:
		if len(p.slab)-p.used < n {
			p.chunk = min(max(2*p.chunk, minSlab), maxSlab)
			p.slab, p.slabi, p.used = make([]member, max(p.chunk, n)), uint32(len(d.slabs)), 0
			d.slabs = append(d.slabs, p.slab)
		}
		slab, off = int(p.slabi), p.used
		if n <= 2 { // most containers of metadata: a call to memmove costs more
			for i, m := range p.stack[base:] {
				p.slab[p.used+i] = m
			}
			p.used += n
		} else {
			p.used += copy(p.slab[p.used:], p.stack[base:])
		}
		p.stack = p.stack[:base]
	}
	if slab >= 1<<(63-contSlabShift) { // cannot happen within maxInput
		panic("canonjson: too many slabs")
	}
	return int64(slab)<<contSlabShift | int64(off)<<contOffShift | int64(n)
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// value reads a value into a member without its key.
func (p *parser) value(depth int) (member, error) {
	if depth > MaxDepth {
		return member{}, p.errorf("nested deeper than %d levels", MaxDepth)
	}
	if p.pos >= len(p.b) {
		return member{}, p.errorf("unexpected end of data")
	}
	switch c := p.b[p.pos]; {
	case c == '"':
		sp, err := p.string()
		return member{kmeta: uint32(kindString), n: int64(sp.off)<<32 | int64(sp.n)}, err
	case c == '{':
		i, err := p.object(depth)
		return member{kmeta: uint32(kindObject), n: i}, err
	case c == '-' || ('0' <= c && c <= '9'):
		n, err := p.number()
		return member{kmeta: uint32(kindInt), n: n}, err
	case c == '[':
		i, err := p.array(depth)
		return member{kmeta: uint32(kindArray), n: i}, err
	case p.literal("true"):
		p.pos += 4
		return member{kmeta: uint32(kindBool), n: 1}, nil
	case p.literal("false"):
		p.pos += 5
		return member{kmeta: uint32(kindBool)}, nil
	case p.literal("null"):
		p.pos += 4
		return member{}, nil
	default:
		return member{}, p.errorf("unexpected %q (white space is not canonical)", c)
	}
}

// literal reports whether w is next.
func (p *parser) literal(w string) bool {
	return len(p.b)-p.pos >= len(w) && string(p.b[p.pos:p.pos+len(w)]) == w
}

// span is a string read: b[off : off+n], or unesc[off] when n is
// escapedLen.
type span struct{ off, n uint32 }

func (p *parser) expect(c byte) error {
	if p.pos >= len(p.b) {
		return p.errorf("unexpected end of data, want %q", c)
	}
	if p.b[p.pos] != c {
		return p.errorf("unexpected %q, want %q", p.b[p.pos], c)
	}
	p.pos++
	return nil
}

// object reads an object whose keys must be strictly ascending, and
// returns its place.
func (p *parser) object(depth int) (int64, error) {
	p.pos++ // '{'
	base := len(p.stack)
	if p.pos < len(p.b) && p.b[p.pos] == '}' {
		p.pos++
		return p.finish(base), nil
	}
	var prev []byte
	for {
		if p.pos >= len(p.b) || p.b[p.pos] != '"' {
			return 0, p.errorf("want an object key")
		}
		at := p.pos
		sp, err := p.string()
		if err != nil {
			return 0, err
		}
		key := p.d.str(int64(sp.off)<<32 | int64(sp.n))
		if len(p.stack) > base {
			switch bytes.Compare(key, prev) {
			case 0:
				return 0, fmt.Errorf("at byte %d: duplicate key %q", at, key)
			case -1:
				return 0, fmt.Errorf("at byte %d: key %q after %q: notary's canonical encoder writes keys sorted by their bytes", at, key, prev)
			}
		}
		prev = key
		if p.pos < len(p.b) && p.b[p.pos] == ':' { // expect's common case, inline
			p.pos++
		} else {
			return 0, p.expect(':')
		}
		m, fast := p.fileMeta(depth + 1) // most of a targets map (fast.go)
		if !fast {
			if m, err = p.value(depth + 1); err != nil {
				return 0, err
			}
		}
		if m.koff = sp.off; sp.n == escapedLen {
			m.kmeta |= keyEscaped
		} else {
			m.kmeta |= sp.n << 4
		}
		p.stack = append(p.stack, m)
		if fast { // more of a targets map, most likely (fast.go)
			prev = p.fileRun(prev)
		}
		if p.pos < len(p.b) && p.b[p.pos] == '}' {
			p.pos++
			return p.finish(base), nil
		}
		if p.pos < len(p.b) && p.b[p.pos] == ',' {
			p.pos++
		} else {
			return 0, p.expect(',')
		}
	}
}

// array reads an array, and returns its place.
func (p *parser) array(depth int) (int64, error) {
	p.pos++ // '['
	base := len(p.stack)
	if p.pos < len(p.b) && p.b[p.pos] == ']' {
		p.pos++
		return p.finish(base), nil
	}
	for {
		m, err := p.value(depth + 1)
		if err != nil {
			return 0, err
		}
		p.stack = append(p.stack, m)
		if p.pos < len(p.b) && p.b[p.pos] == ']' {
			p.pos++
			return p.finish(base), nil
		}
		if p.pos < len(p.b) && p.b[p.pos] == ',' {
			p.pos++
		} else {
			return 0, p.expect(',')
		}
	}
}

// plain marks the string bytes that stand for themselves and need no
// further look: printable ASCII other than '"' and '\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// special marks the bytes of x (8 bytes read little-endian) that plain
// does not: '"', '\\', below 0x20 or from 0x80 on, by the high bit of each
// byte. The bit tricks are the usual haszero and hasless: a borrow can
// mark a byte above a marked one, never below, so the lowest mark is
// exactly the first such byte (TestSpecial compares with plain).
func special(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(lo*'"'), x^(lo*'\\')
	control := (x - lo*0x20) &^ x
	quote = (quote - lo) &^ quote
	backslash = (backslash - lo) &^ backslash
	return (control | quote | backslash | x) & hi
}

// string decodes a JSON string as the canonical encoder writes it: no
// escapes other than \" and \\, no raw control characters (RFC 8259
// refuses them), valid UTF-8. The result is a part of p.b unless it holds
// an escape.
func (p *parser) string() (span, error) {
	b := p.b
	start := p.pos + 1
	escaped := false
	for i := start; ; {
		for i+8 <= len(b) {
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(b) && plain[b[i]] { // the last 7 bytes
			i++
		}
		if i >= len(b) {
			p.pos = i
			return span{}, p.errorf("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			p.pos = i + 1
			if escaped {
				p.d.unesc = append(p.d.unesc, unescape(b[start:i]))
				return span{uint32(len(p.d.unesc) - 1), escapedLen}, nil
			}
			return span{uint32(start), uint32(i - start)}, nil
		case c == '\\':
			p.pos = i
			if i+1 >= len(b) {
				return span{}, p.errorf("unterminated escape")
			}
			switch e := b[i+1]; e {
			case '"', '\\':
				escaped = true
				i += 2
			case '/', 'b', 'f', 'n', 'r', 't':
				return span{}, p.errorf("escape \\%c is not canonical (notary's canonical encoder writes only \\\" and \\\\ as escapes, every other character as it is)", e)
			case 'u':
				if i+6 > len(b) {
					return span{}, p.errorf("short \\u escape")
				}
				if _, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16); err != nil {
					return span{}, p.errorf("invalid \\u escape")
				}
				return span{}, p.errorf("escape %s is not canonical (notary's canonical encoder writes only \\\" and \\\\ as escapes, every other character as it is)", b[i:i+6])
			default:
				return span{}, p.errorf("invalid escape \\%c", e)
			}
		case c < 0x20:
			p.pos = i
			return span{}, p.errorf("control character 0x%02x in a string", c)
		default: // c >= 0x80
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				p.pos = i
				return span{}, p.errorf("invalid UTF-8")
			}
			i += size
		}
	}
}

// unescape undoes \" and \\, the only escapes string lets through.
func unescape(s []byte) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b = append(b, s[i])
	}
	return b
}

// number accepts the integers notary writes: -?(0|[1-9][0-9]*) within
// ±2^53, no "-0", no fraction, no exponent. notary verifies a signature
// over the payload decoded into interface{}, numbers as float64, and
// written back canonically: beyond 2^53 a float64 is not every integer, so
// 2^53+1 would be verified as 2^53 and 2^63-1 as -2^63. Bytes no notary
// client can verify are not signed (MaxInt).
func (p *parser) number() (int64, error) {
	s := p.b
	start := p.pos
	i := start
	if s[i] == '-' {
		i++
	}
	digits := i
	var u uint64
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		if i-digits < 19 { // 19 digits fit in a uint64; more are out of range
			u = 10*u + uint64(s[i]-'0')
		}
		i++
	}
	p.pos = i
	lit := s[start:i] // for messages: %q prints bytes as a string
	neg := digits > start
	switch {
	case i == digits:
		return 0, p.errorf("invalid number %q", lit)
	case i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'):
		return 0, p.errorf("number %q has a fraction or exponent; notary writes integers only", lit)
	case s[digits] == '0' && i-digits > 1:
		return 0, p.errorf("number %q has a leading zero", lit)
	case neg && s[digits] == '0':
		return 0, p.errorf("number -0 is not canonical")
	case i-digits > 19, u > MaxInt:
		return 0, p.errorf("number %q is out of range: notary reads numbers as float64, exact only within ±2^53", lit)
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

// MaxInt is the largest magnitude of an integer Parse accepts: 2^53, the
// last of the run of integers a float64 holds exactly.
const MaxInt = 1 << 53

// Encode appends v as notary's canonical encoder writes it: v is what
// Parse returns or one of its values (*Object, []any, string, int64, bool,
// nil). Encode of a parsed object is the bytes it was parsed from.
func Encode(b []byte, v any) []byte {
	switch v := v.(type) {
	case *Object:
		return encodeObject(b, v)
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
	panic(fmt.Sprintf("canonjson: Encode: unexpected %T", v))
}

// encodeObject writes o's members in order: an Object's keys are sorted,
// as Parse requires.
func encodeObject(b []byte, o *Object) []byte {
	b = append(b, '{')
	for i := range o.mem {
		if i > 0 {
			b = append(b, ',')
		}
		b = encodeString(b, o.d.key(&o.mem[i]))
		b = append(b, ':')
		b = encodeValue(b, o.d, &o.mem[i])
	}
	return append(b, '}')
}

func encodeValue(b []byte, d *document, m *member) []byte {
	switch m.kind() {
	case kindObject, kindFile, kindFileHashes:
		o := d.object(m)
		return encodeObject(b, &o)
	case kindArray:
		a := d.cont(m.n)
		b = append(b, '[')
		for i := range a.mem {
			if i > 0 {
				b = append(b, ',')
			}
			b = encodeValue(b, d, &a.mem[i])
		}
		return append(b, ']')
	case kindString:
		return encodeString(b, d.str(m.n))
	case kindInt:
		return strconv.AppendInt(b, m.n, 10)
	case kindBool:
		return strconv.AppendBool(b, m.n != 0)
	}
	return append(b, "null"...)
}

// encodeString escapes '"' and '\' only: canonical mode writes every other
// byte as it is.
func encodeString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
