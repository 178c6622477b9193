package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trust-agent/trust-agent/agent"
)

// FuzzReadFrame feeds arbitrary bytes to readFrame, and what it accepts to
// the server's request handling. Seeds live in testdata/fuzz/FuzzReadFrame.
func FuzzReadFrame(f *testing.F) {
	pool := &bodyPool{out: map[*byte]bool{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		fr, err := readFrame(r, maxFrameBytes)
		// The server's reader, with a budget and a pool, reads the same
		// frame, and gives back every byte and buffer, also on error.
		granted := 0
		acquire := func(n int) (func(), error) { granted += n; return func() { granted -= n }, nil }
		fb, release, errb := readFrameBudget(bytes.NewReader(data), maxFrameBytes, acquire, pool)
		if (err == nil) != (errb == nil) || err != nil && errb.Error() != err.Error() {
			t.Fatalf("with a budget and a pool: %v; without: %v", errb, err)
		}
		if errb == nil && (fb.version != fr.version || fb.typ != fr.typ || !bytes.Equal(fb.body, fr.body)) {
			t.Fatalf("with a budget and a pool the frame reads %d %s % x, without %d %s % x", fb.version, fb.typ, fb.body, fr.version, fr.typ, fr.body)
		}
		release()
		if granted != 0 || len(pool.out) != 0 {
			t.Fatalf("after release: %d bytes of budget, %d pooled buffers still out", granted, len(pool.out))
		}
		switch {
		case err == io.EOF:
			if len(data) != 0 {
				t.Fatalf("EOF with %d bytes of input", len(data))
			}
			return
		case errors.Is(err, ErrFrameTooLarge):
			if r.n != 4 {
				t.Fatalf("read %d bytes of an oversized frame, want only its length", r.n)
			}
			return
		case errors.Is(err, ErrMalformedFrame):
			return
		case err != nil:
			t.Fatalf("unexpected error: %v", err)
		}
		var again bytes.Buffer
		if err := writeFrame(&again, fr); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), data[:r.n]) {
			t.Fatalf("re-encoding gives % x, read % x", again.Bytes(), data[:r.n])
		}
		resp := handle(context.Background(), new(fakeAgent), fr, func(string, error) {})
		if want := byte(Version); resp.version != want && !(fr.version == 1 && resp.version == 1) {
			t.Fatalf("response version %d to a version-%d request", resp.version, fr.version)
		}
		switch resp.typ {
		case msgFailure:
			var b failureBody
			if err := json.Unmarshal(resp.body, &b); err != nil {
				t.Fatalf("failure body: %v", err)
			}
		case fr.typ | msgSuccess:
			if fr.typ&msgSuccess != 0 {
				t.Fatalf("a %s frame was served as a request", fr.typ)
			}
		default:
			t.Fatalf("%s answered with %s", fr.typ, resp.typ)
		}
	})
}

// requestTypes maps each request type with a body to a fresh value of its
// Go type.
var requestTypes = map[msgType]func() any{
	msgSign:        func() any { return new(agent.SignRequest) },
	msgCertifyRoot: func() any { return new(agent.CertifyRequest) },
	msgGenerate:    func() any { return new(agent.GenerateRequest) },
	msgImport:      func() any { return new(agent.ImportRequest) },
	msgUnlock:      func() any { return new(agent.UnlockRequest) },
	msgAttest:      func() any { return new(agent.AttestRequest) },
	msgDelete:      func() any { return new(agent.DeleteRequest) },
	msgSignPayload: func() any { return new(agent.PayloadRequest) },
	msgCertifyKey:  func() any { return new(agent.CertifyKeyRequest) },
}

// bulkNames names the bulk field of each request type that has one.
var bulkNames = map[msgType]string{msgSign: "data", msgSignPayload: "payload"}

// setField sets v's field whose json name is name to b.
func setField(v any, name string, b []byte) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ","); tag == name {
			rv.Field(i).SetBytes(b)
			return
		}
	}
	panic("no field " + name)
}

// FuzzDecodeRequest feeds arbitrary bodies, as they come in a frame, to the
// strict request decoder. What it accepts must have valid UTF-8 JSON, decode
// the same with encoding/json alone (the strict check only refuses, it never
// changes a meaning), and survive a round trip through the client's
// encoding unchanged. For a request with a bulk field the body is the JSON's
// length, the JSON, then the bulk bytes. Seeds live in
// testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		mt := msgType(typ)
		mk, ok := requestTypes[mt]
		if !ok {
			return
		}
		v := mk()
		err := decodeRequest(mt, body, v)
		js, tail := body, []byte(nil)
		if hasBulk(mt) {
			var serr error
			if js, tail, serr = splitBulk(body); serr != nil {
				if err == nil {
					t.Fatalf("accepted a body that does not split: %v", serr)
				}
				return
			}
		}
		if cerr := checkStrict(js, mk(), bulkNames[mt]); cerr == nil && err != nil {
			t.Fatalf("checkStrict accepted what encoding/json refuses: %v", err)
		}
		if err != nil {
			return
		}
		if !utf8.Valid(js) {
			t.Fatalf("accepted invalid UTF-8 % x", js)
		}
		lenient := mk()
		if err := json.Unmarshal(js, lenient); err != nil {
			t.Fatal(err)
		}
		if hasBulk(mt) {
			setField(lenient, bulkNames[mt], tail)
		}
		if !reflect.DeepEqual(v, lenient) {
			t.Fatalf("strict %+v, lenient %+v", v, lenient)
		}
		again, bulk, err := encodeRequest(mt, reflect.ValueOf(v).Elem().Interface())
		if err != nil {
			t.Fatal(err)
		}
		back := mk()
		if err := decodeRequest(mt, append(again, bulk...), back); err != nil {
			t.Fatalf("the client's encoding %q + %d bytes is refused: %v", again, len(bulk), err)
		}
		if !sameRequest(v, back) {
			t.Fatalf("round trip changed %+v into %+v", v, back)
		}
	})
}

// sameRequest compares decoded requests, taking nil and empty byte slices
// and times at the same instant as equal.
func sameRequest(a, b any) bool {
	ja, _ := json.Marshal(noNulls(reflect.ValueOf(a).Elem().Interface()))
	jb, _ := json.Marshal(noNulls(reflect.ValueOf(b).Elem().Interface()))
	return bytes.Equal(ja, jb)
}
