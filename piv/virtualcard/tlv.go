package virtualcard

import (
	"errors"
	"fmt"
)

// errMalformedTLV reports command data that is not a sequence of BER-TLVs.
var errMalformedTLV = errors.New("virtualcard: malformed TLV")

// tlv is one BER-TLV element. tag holds the tag bytes as they appear on
// the wire (0x7C, 0x5FC10A, 0x7F49), which is how PIV and Yubico's
// documents name them.
type tlv struct {
	tag   uint32
	value []byte
}

// parseTLVs splits b into consecutive TLVs. Input lengths may be BER (a
// non-minimal long form is accepted, as a card must be lenient in what it
// reads); indefinite lengths and lengths over 3 bytes are refused.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1f == 0x1f {
			// Multi-byte tag: more bytes follow while bit 8 is set. PIV
			// uses at most three tag bytes (5FC10A).
			for {
				if i >= len(b) || i > 3 {
					return nil, errMalformedTLV
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, errMalformedTLV
		}
		n := int(b[i])
		i++
		if n > 0x80 {
			k := n & 0x7f
			if k > 3 || i+k > len(b) {
				return nil, errMalformedTLV
			}
			n = 0
			for _, c := range b[i : i+k] {
				n = n<<8 | int(c)
			}
			i += k
		} else if n == 0x80 {
			return nil, errMalformedTLV
		}
		if n > len(b)-i {
			return nil, fmt.Errorf("%w: tag %x wants %d bytes, %d left", errMalformedTLV, tag, n, len(b)-i)
		}
		out = append(out, tlv{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// find returns the value of the first element with the given tag.
func find(tlvs []tlv, tag uint32) ([]byte, bool) {
	for _, t := range tlvs {
		if t.tag == tag {
			return t.value, true
		}
	}
	return nil, false
}

// appendLength appends a minimal DER length: piv-go parses responses with
// encoding/asn1, which rejects a long form where the short one fits.
func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendTag appends the wire bytes of tag (1 to 3 bytes).
func appendTag(b []byte, tag uint32) []byte {
	switch {
	case tag > 0xffff:
		return append(b, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xff:
		return append(b, byte(tag>>8), byte(tag))
	default:
		return append(b, byte(tag))
	}
}

// appendTLV appends tag, minimal length and value.
func appendTLV(b []byte, tag uint32, value []byte) []byte {
	b = appendTag(b, tag)
	b = appendLength(b, len(value))
	return append(b, value...)
}

// tlvBytes is appendTLV onto a fresh slice.
func tlvBytes(tag uint32, value []byte) []byte {
	return appendTLV(nil, tag, value)
}
