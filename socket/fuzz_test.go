package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to readFrame, and what it accepts to
// the server's request handling. Seeds live in testdata/fuzz/FuzzReadFrame.
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		fr, err := readFrame(r, maxFrameBytes)
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
		if resp.version != Version {
			t.Fatalf("response version %d", resp.version)
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
