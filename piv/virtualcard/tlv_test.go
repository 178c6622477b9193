package virtualcard

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(stripSpaces(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}

func TestParseTLVs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []tlv
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "one byte tag", in: "80 01 11", want: []tlv{{0x80, []byte{0x11}}}},
		{name: "empty value", in: "82 00 81 01 aa", want: []tlv{{0x82, []byte{}}, {0x81, []byte{0xaa}}}},
		{name: "three byte tag", in: "5f c1 0a 00", want: []tlv{{0x5fc10a, []byte{}}}},
		{name: "two byte tag", in: "7f 49 01 00", want: []tlv{{0x7f49, []byte{0}}}},
		{name: "long form length", in: "70 81 01 ff", want: []tlv{{0x70, []byte{0xff}}}},
		{name: "non-minimal length accepted", in: "70 82 00 01 ff", want: []tlv{{0x70, []byte{0xff}}}},
		{name: "truncated value", in: "70 02 ff", wantErr: true},
		{name: "missing length", in: "70", wantErr: true},
		{name: "indefinite length", in: "70 80 00 00", wantErr: true},
		{name: "four length bytes", in: "70 84 00 00 00 01 ff", wantErr: true},
		{name: "unterminated tag", in: "5f c1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTLVs(unhex(t, tt.in))
			if tt.wantErr {
				if !errors.Is(err, errMalformedTLV) {
					t.Fatalf("parseTLVs = %v, %v; want errMalformedTLV", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseTLVs: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseTLVs = %x, want %x", got, tt.want)
			}
			for i := range got {
				if got[i].tag != tt.want[i].tag || !bytes.Equal(got[i].value, tt.want[i].value) {
					t.Errorf("element %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestAppendTLVMinimal checks DER-minimal lengths: piv-go parses answers
// with encoding/asn1, which refuses anything else.
func TestAppendTLVMinimal(t *testing.T) {
	tests := []struct {
		tag  uint32
		n    int
		want string // tag and length bytes
	}{
		{0x53, 0, "53 00"},
		{0x53, 0x7f, "53 7f"},
		{0x53, 0x80, "53 81 80"},
		{0x53, 0xff, "53 81 ff"},
		{0x53, 0x100, "53 82 01 00"},
		{0x7f49, 0x49, "7f 49 49"},
		{0x5fc10a, 3, "5f c1 0a 03"},
	}
	for _, tt := range tests {
		got := appendTLV(nil, tt.tag, make([]byte, tt.n))
		want := unhex(t, tt.want)
		if !bytes.HasPrefix(got, want) || len(got) != len(want)+tt.n {
			t.Errorf("appendTLV(%x, %d bytes) starts % x, want % x", tt.tag, tt.n, got[:min(len(got), len(want))], want)
		}
		back, err := parseTLVs(got)
		if err != nil || len(back) != 1 || back[0].tag != tt.tag || len(back[0].value) != tt.n {
			t.Errorf("round trip of %x/%d: %v, %v", tt.tag, tt.n, back, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		data    string
		le      int
		wantErr bool
	}{
		{name: "case 1", in: "00 a4 04 00"},
		{name: "case 2", in: "00 fd 00 00 00", le: 256},
		{name: "case 2 le", in: "00 c0 00 00 10", le: 16},
		{name: "case 3", in: "00 20 00 80 02 31 32", data: "31 32"},
		{name: "case 4", in: "00 a4 04 00 02 a0 00 00", data: "a0 00", le: 256},
		{name: "extended case 3", in: "00 db 3f ff 00 00 02 aa bb", data: "aa bb"},
		{name: "extended case 2", in: "00 c0 00 00 00 01 00", le: 256},
		{name: "too short", in: "00 a4 04", wantErr: true},
		{name: "lc beyond data", in: "00 20 00 80 08 31", wantErr: true},
		{name: "trailing junk", in: "00 20 00 80 01 31 00 00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCommand(unhex(t, tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCommand error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(c.data, unhex(t, tt.data)) || c.le != tt.le {
				t.Errorf("parseCommand = data % x le %d; want % x le %d", c.data, c.le, unhex(t, tt.data), tt.le)
			}
		})
	}
}
