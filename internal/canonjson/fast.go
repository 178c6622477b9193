package canonjson

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// The fast path for file metadata. Most of a large Targets payload (and of
// a Snapshot's meta) is one shape, an object member per file:
//
//	"<name>":{"hashes":{"sha256":"<base64>"},"length":<digits>}
//
// fileMeta matches the value part of that shape with byte comparisons of
// its literal parts, a table lookup per hash character (up to 255 of
// them) and a digit loop, and keeps it as one member (kindFile: where the
// hash is, and the length), which object builds into the members the
// generic parser (value → object → string, number) would have built,
// whenever anything reads it as an object; FileMetaAt reads it in place.
// Anything it does not match exactly (another hash, a custom field, an
// escape, a hash that is not standard base64 in the one form
// base64.StdEncoding writes, a leading zero, 9 digits or more, too deep)
// it leaves to the generic parser, from the same position: it only ever
// accepts bytes the generic parser accepts, with the same values, and it
// never refuses. The name before the value is read, and its order
// checked, by object as for any other key. FuzzFastPath compares the two
// paths on the same bytes, and the hashes the fast path took with
// encoding/base64's own form.
//
// So a value read by the fast path needs no further look from a TUF
// policy (CheckedFileMetaAt): its hash is canonical base64 and its length
// an integer from 0 to 99,999,999. The policy walks a large targets map
// once, in the parse, not twice.

const (
	fmHead = `{"hashes":{"sha256":"` // the value's start, up to the hash
	fmMid  = `"},"length":`          // from the hash's end to the length
	// fmMaxDigits bounds the length's digits on the fast path: 8 digits
	// fit in the 28 bits a kindFile member keeps for it.
	fmMaxDigits = 8
)

// fmHashChar maps the standard base64 alphabet (all plain string bytes)
// to 1 + the character's value, every other byte to 0; '=' (padding) is
// matched apart.
var fmHashChar = func() (t [256]byte) {
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = byte(1 + i)
	}
	return t
}()

// fmHead and fmMid as words, for matchFile's comparisons.
var (
	fmHead0, fmHead8, fmHeadEnd = le64([]byte(fmHead)), le64([]byte(fmHead[8:])), le64([]byte(fmHead[len(fmHead)-8:]))
	fmMid0, fmMidEnd            = le64([]byte(fmMid)), le64([]byte(fmMid[len(fmMid)-8:]))
)

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// fmPadBits is, by the number of '=' at a hash's end, the low bits of its
// last character that carry no data and must be 0 (one byte string has
// one form): 2 bytes in 3 characters (18 bits, 16 used), 1 byte in 2
// characters (12 bits, 8 used).
var fmPadBits = [3]byte{0, 0x3, 0xf}

// fileMeta reads a file-metadata value at p.pos, a member's value at depth,
// when it has the fast path's exact shape; ok is false (and nothing read
// or built) otherwise.
func (p *parser) fileMeta(depth int) (m member, ok bool) {
	// The hash string is two levels below the value: as deep as the
	// generic parser goes, and checks.
	if p.noFast || depth+2 > MaxDepth {
		return member{}, false
	}
	file, next, ok := matchFile(p.b, p.pos)
	if !ok {
		return member{}, false
	}
	p.pos = next
	return member{kmeta: uint32(kindFile), n: file}, true
}

// matchFile matches the fast path's shape at b[at:]: the value's place
// (a kindFile member's n) and the position after it, or ok false.
func matchFile(b []byte, at int) (file int64, next int, ok bool) {
	b = b[at:]
	// fmHead's 21 bytes as three words (the last two overlap).
	if len(b) < len(fmHead) || le64(b) != fmHead0 || le64(b[8:]) != fmHead8 || le64(b[len(fmHead)-8:]) != fmHeadEnd {
		return 0, 0, false
	}
	end := len(fmHead) // the hash's end
	for end < len(b) && end-len(fmHead) < fmMaxHash && fmHashChar[b[end]] != 0 {
		end++
	}
	// Canonical base64: whole quanta of 4 characters, at most two '=' and
	// only at the end, no data bits past the data.
	body := end
	for end < len(b) && end-len(fmHead) < fmMaxHash && end-body < 2 && b[end] == '=' {
		end++
	}
	if pad := end - body; (end-len(fmHead))%4 != 0 ||
		pad > 0 && (fmHashChar[b[body-1]]-1)&fmPadBits[pad] != 0 { // body > len(fmHead): whole quanta
		return 0, 0, false
	}
	digits := end + len(fmMid)
	if len(b) < digits || le64(b[end:]) != fmMid0 || le64(b[digits-8:]) != fmMidEnd {
		return 0, 0, false
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
		return 0, 0, false
	}
	// One member, not four: the hash's place and the length. object (or
	// FileMetaAt) reads it.
	return int64(uint64(at+len(fmHead))<<fmOffShift | uint64(end-len(fmHead))<<fmLenShift | uint64(n)), at + i + 1, true
}

// fileRun reads, after a file entry the fast path took, as many more
// members `,"<name>":<file metadata>` of the same object as match the
// fast path whole, each one's name plain (printable ASCII other than '"'
// and '\', found 8 bytes at a time) and strictly after the name before
// it (prev); it returns the last name it took, or prev. It stops, at
// the ',' of the member it did not take, at anything else (the object's
// end, an escape, a name out of order, another value): object's generic
// loop reads from there, refuses what is wrong and says why, as it would
// have without fileRun. The run is the bulk of a large targets map: one
// loop, no call per name or value, nothing written but the member.
func (p *parser) fileRun(prev []byte) []byte {
	b, stack := p.b, p.stack // locals in the loop, p's fields after it
	i := p.pos
	for i+1 < len(b) && b[i] == ',' && b[i+1] == '"' {
		k := i + 2 // the name
		j := k
		for {
			if j+8 > len(b) {
				j = -1 // the last bytes: the generic loop's
				break
			}
			if m := special(le64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		if j < 0 || b[j] != '"' || j+1 >= len(b) || b[j+1] != ':' {
			break
		}
		name := b[k:j]
		if bytes.Compare(name, prev) <= 0 {
			break
		}
		file, next, ok := matchFile(b, j+2)
		if !ok {
			break
		}
		stack = append(stack, member{koff: uint32(k), kmeta: uint32(j-k)<<4 | uint32(kindFile), n: file})
		prev, i = name, next
	}
	p.stack, p.pos = stack, i
	return prev
}

// A kindFile member's n packs the hash's offset in the data (28 bits:
// maxInput), its length (fmMaxHash: 8 bits) and the file's length
// (fmMaxDigits digits: below 2^28); a kindFileHashes member (the hashes
// object, built on demand) has the same n.
const (
	fmOffShift = 36
	fmLenShift = 28
	fmMaxHash  = 1<<8 - 1
	fmMask     = 1<<28 - 1
)

// unpackFile is the hash's place and the file's length.
func unpackFile(n int64) (off, hlen uint32, length int64) {
	u := uint64(n)
	return uint32(u >> fmOffShift), uint32(u >> fmLenShift & fmMaxHash), int64(u & fmMask)
}

// object is the object m holds: a container, or one of the fast path's,
// built here with the members the generic parser would have built.
func (d *document) object(m *member) Object {
	switch m.kind() {
	case kindFile:
		off, hlen, length := unpackFile(m.n)
		start := off - uint32(len(fmHead)) // the value's '{'
		return Object{d: d, mem: []member{
			{koff: start + uint32(len(`{"`)), kmeta: uint32(len("hashes"))<<4 | uint32(kindFileHashes), n: m.n},
			{koff: off + hlen + uint32(len(`"},"`)), kmeta: uint32(len("length"))<<4 | uint32(kindInt), n: length},
		}}
	case kindFileHashes:
		off, hlen, _ := unpackFile(m.n)
		return Object{d: d, mem: []member{
			{koff: off - uint32(len(`sha256":"`)), kmeta: uint32(len("sha256"))<<4 | uint32(kindString), n: int64(off)<<32 | int64(hlen)},
		}}
	}
	return d.cont(m.n)
}

// CheckedFileMetaAt reports whether the i-th value was read by the fast
// path for file metadata: exactly {"hashes":{"sha256":HASH},"length":LENGTH}
// (notary's FileMeta with a SHA-256 only), HASH in the one form
// base64.StdEncoding writes (fewer than 256 characters) and LENGTH from 0 to
// 99,999,999. It costs a look at one member; false says nothing about
// the value, which FileMetaAt and the rest read as usual.
func (o *Object) CheckedFileMetaAt(i int) bool { return o.mem[i].kind() == kindFile }

// FileMetaAt returns the i-th value's hash and length when the value is
// exactly {"hashes":{"sha256":HASH},"length":LENGTH} (notary's FileMeta
// with a SHA-256 only), without building it: the hash is a part of the
// data, as StringBytesAt's are (to read, never to keep). ok is false for
// any other value, which ObjectAt and the rest read as usual.
func (o *Object) FileMetaAt(i int) (hash []byte, length int64, ok bool) {
	m := &o.mem[i]
	if m.kind() == kindFile {
		off, hlen, length := unpackFile(m.n)
		return o.d.b[off : off+hlen], length, true
	}
	fm, ok := o.ObjectAt(i)
	if !ok || fm.Len() != 2 || !fm.KeyIs(0, "hashes") || !fm.KeyIs(1, "length") {
		return nil, 0, false
	}
	hashes, ok := fm.ObjectAt(0)
	if !ok || hashes.Len() != 1 || !hashes.KeyIs(0, "sha256") {
		return nil, 0, false
	}
	if hash, ok = hashes.StringBytesAt(0); !ok {
		return nil, 0, false
	}
	if length, ok = fm.IntAt(1); !ok {
		return nil, 0, false
	}
	return hash, length, true
}
