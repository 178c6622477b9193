package canonjson

// The fast path for file metadata. Most of a large Targets payload (and of
// a Snapshot's meta) is one shape, an object member per file:
//
//	"<name>":{"hashes":{"sha256":"<base64>"},"length":<digits>}
//
// fileMeta matches the value part of that shape with byte comparisons of
// its literal parts, a table lookup per hash character (the standard
// base64 alphabet and '=', any number of them) and a digit loop,
// and builds exactly the members the generic parser (value → object →
// string, number) builds for the same bytes, in the same order. Anything
// it does not match exactly (another hash, a custom field, an escape, a
// byte outside the table, a leading zero, 19 digits or more, too deep) it
// leaves to the generic parser, from the same position: it only ever
// accepts bytes the generic parser accepts, with the same values, and it
// never refuses. The name before the value is read, and its order
// checked, by object as for any other key. FuzzFastPath compares the two
// paths on the same bytes.

const (
	fmHead = `{"hashes":{"sha256":"` // the value's start, up to the hash
	fmMid  = `"},"length":`          // from the hash's end to the length
	// fmMaxDigits bounds the length's digits on the fast path: 18 digits
	// fit in an int64 whatever they are.
	fmMaxDigits = 18
)

// fmHashChar marks the bytes a hash may hold on the fast path: the
// standard base64 alphabet and '=' (all plain string bytes), as 1.
var fmHashChar = func() (t [256]byte) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		t[c] = 1
	}
	return t
}()

// fileMeta reads a file-metadata value at p.pos, a member's value at depth,
// when it has the fast path's exact shape; ok is false (and nothing read
// or built) otherwise.
func (p *parser) fileMeta(depth int) (m member, ok bool) {
	b := p.b[p.pos:]
	// The hash string is two levels below the value: as deep as the
	// generic parser goes, and checks.
	if p.noFast || depth+2 > MaxDepth || len(b) < len(fmHead) || string(b[:len(fmHead)]) != fmHead {
		return member{}, false
	}
	end := len(fmHead) // the hash's end
	for end < len(b) && fmHashChar[b[end]] == 1 {
		end++
	}
	digits := end + len(fmMid)
	if len(b) < digits || string(b[end:digits]) != fmMid {
		return member{}, false
	}
	i := digits
	var n int64
	for i < len(b) && i-digits < fmMaxDigits && '0' <= b[i] && b[i] <= '9' {
		n = 10*n + int64(b[i]-'0')
		i++
	}
	switch {
	case i == digits, // no digit (a '-', or anything else)
		i >= len(b) || b[i] != '}',       // more digits, a fraction, another field
		b[digits] == '0' && i-digits > 1: // a leading zero
		return member{}, false
	}
	// What the generic parser builds: the hashes object's one member, then
	// the file's two members, each container finished as it closes.
	at := uint32(p.pos)
	base := len(p.stack)
	p.stack = append(p.stack, member{
		koff:  at + uint32(len(`{"hashes":{"`)),
		kmeta: uint32(len("sha256"))<<4 | uint32(kindString),
		n:     int64(at+uint32(len(fmHead)))<<32 | int64(end-len(fmHead)),
	})
	hashes := p.finish(base)
	p.stack = append(p.stack,
		member{koff: at + uint32(len(`{"`)), kmeta: uint32(len("hashes"))<<4 | uint32(kindObject), n: hashes},
		member{koff: at + uint32(end+len(`"},"`)), kmeta: uint32(len("length"))<<4 | uint32(kindInt), n: n},
	)
	file := p.finish(base)
	p.pos += i + 1
	return member{kmeta: uint32(kindObject), n: file}, true
}
