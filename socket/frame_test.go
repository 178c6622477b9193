package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func rawFrame(length uint32, rest ...byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, length), rest...)
}

func TestFrameRoundTrip(t *testing.T) {
	types := []msgType{msgList, msgSign, msgCertifyRoot, msgGenerate, msgImport, msgLock, msgUnlock, msgStatus, msgAttest, msgFailure}
	for _, typ := range types {
		for _, rt := range []msgType{typ, typ | msgSuccess} {
			for _, body := range [][]byte{nil, []byte(`{"key_id":"ab"}`), bytes.Repeat([]byte{0xA5}, 3*growChunk+17)} {
				var buf bytes.Buffer
				in := frame{version: Version, typ: rt, body: body}
				if err := writeFrame(&buf, in); err != nil {
					t.Fatal(err)
				}
				if got, want := buf.Len(), headerBytes+len(body); got != want {
					t.Fatalf("%s: encoded %d bytes, want %d", rt, got, want)
				}
				out, err := readFrame(&buf, maxFrameBytes)
				if err != nil {
					t.Fatalf("%s: %v", rt, err)
				}
				if out.version != in.version || out.typ != in.typ || !bytes.Equal(out.body, in.body) {
					t.Fatalf("%s: round trip changed the frame", rt)
				}
				if buf.Len() != 0 {
					t.Fatalf("%s: %d bytes left", rt, buf.Len())
				}
			}
		}
	}
}

func TestFrameLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, frame{version: 1, typ: msgSign, body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 4, 1, 0x02, '{', '}'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got % x, want % x", buf.Bytes(), want)
	}
}

func TestReadFrameRefuses(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    error
		maxRead int // bytes readFrame may consume
	}{
		{"empty stream is a clean EOF", nil, io.EOF, 0},
		{"truncated length", []byte{0, 0}, ErrMalformedFrame, 2},
		{"length zero", rawFrame(0), ErrMalformedFrame, 4},
		{"length one", rawFrame(1, 1), ErrMalformedFrame, 4},
		{"truncated header", rawFrame(5, 1), ErrMalformedFrame, 5},
		{"truncated body", rawFrame(10, 1, 2, 'a', 'b'), ErrMalformedFrame, 8},
		{"largest length", rawFrame(0xFFFFFFFF, 1, 2, 'x'), ErrFrameTooLarge, 4},
		{"one over the limit", rawFrame(maxFrameBytes+1, 1, 2), ErrFrameTooLarge, 4},
		{"HTTP garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrFrameTooLarge, 4},
		{"TLS garbage", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, ErrFrameTooLarge, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(tt.in)}
			_, err := readFrame(r, maxFrameBytes)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if r.n > tt.maxRead {
				t.Fatalf("read %d bytes, want at most %d", r.n, tt.maxRead)
			}
		})
	}
}

func TestReadFrameAllocatesOnlyWhatArrives(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"0xFFFFFFFF header", rawFrame(0xFFFFFFFF)},
		{"claims the limit, sends ten bytes", append(rawFrame(maxFrameBytes, 1, 2), make([]byte, 10)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range 10 {
				if _, err := readFrame(bytes.NewReader(tt.in), maxFrameBytes); err == nil {
					t.Fatal("readFrame accepted the frame")
				}
			}
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 10*2*growChunk {
				t.Fatalf("allocated %d bytes for 10 refused frames", d)
			}
		})
	}
}

func TestWriteFrameRefusesOversized(t *testing.T) {
	err := writeFrame(io.Discard, frame{version: Version, typ: msgSign, body: make([]byte, maxFrameBytes-1)})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if err := writeFrame(io.Discard, frame{version: Version, typ: msgSign, body: make([]byte, maxFrameBytes-2)}); err != nil {
		t.Fatalf("a frame of exactly the limit: %v", err)
	}
}

func TestMsgTypeString(t *testing.T) {
	for typ, want := range map[msgType]string{msgSign: "sign", msgSign | msgSuccess: "sign-ok",
		msgFailure: "failure", 0x42: "0x42", 0xC2: "0xc2", msgCertifyRoot: "certify-root"} {
		if got := typ.String(); got != want {
			t.Errorf("%#x: %q, want %q", byte(typ), got, want)
		}
	}
	if !strings.Contains(Code(99).String(), "99") {
		t.Error("unknown code not named by number")
	}
}
