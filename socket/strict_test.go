package socket

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// recordingAgent is a fakeAgent that implements agent.RefusalRecorder.
type recordingAgent struct {
	*fakeAgent
	rmu      sync.Mutex
	refusals []refusal
}

type refusal struct {
	op  string
	err string
}

var _ agent.RefusalRecorder = (*recordingAgent)(nil)

func (r *recordingAgent) RecordRefused(ctx context.Context, op string, err error) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	r.refusals = append(r.refusals, refusal{op, err.Error()})
}

func (r *recordingAgent) recorded() []refusal {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return append([]refusal(nil), r.refusals...)
}

func newRecordingAgent() *recordingAgent { return &recordingAgent{fakeAgent: new(fakeAgent)} }

// rawConn dials path without the socket package's client: bytes written by
// hand, as a hostile local process would.
func rawConn(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawRequest writes one frame of type typ with body and reads the answer.
func rawRequest(t *testing.T, c net.Conn, typ msgType, body string) frame {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(encodeFrame(frame{version: Version, typ: typ, body: []byte(body)})); err != nil {
		t.Fatal(err)
	}
	f, err := readFrame(c, maxFrameBytes)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return f
}

// bulk is the body of a request with a bulk field: the JSON's length, the
// JSON, the bulk bytes.
func bulk(js, data string) string {
	return string(binary.BigEndian.AppendUint32(nil, uint32(len(js)))) + js + data
}

func failureOf(t *testing.T, f frame) failureBody {
	t.Helper()
	if f.typ != msgFailure {
		t.Fatalf("got a %s frame, want a failure", f.typ)
	}
	var b failureBody
	if err := json.Unmarshal(f.body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Request bodies that encoding/json alone would decode, each into a request
// other than the one the bytes show a reader that is strict, are refused
// before the agent sees them, with a refusal recorded, and the connection
// goes on.
func TestStrictRequestAttacks(t *testing.T) {
	const data = `{"_type":"Targets"}`           // a sign request's bulk bytes
	const b64 = `"eyJfdHlwZSI6IlRhcmdldHMifQ=="` // the same in base64
	sign := func(js string) string { return bulk(js, data) }
	imp := func(pkcs8 string) string { return `{"role":"delegation","name":"a","pkcs8":` + pkcs8 + `}` }
	tests := []struct {
		name string
		typ  msgType
		body string
		want string // in the error message
	}{
		{"field name in another case", msgSign, sign(`{"KEY_ID":"aa","gun":"docker.io/a/b","role":"targets"}`), `unknown field "KEY_ID"`},
		{"field name with a Unicode case fold (Kelvin sign)", msgSign, sign(`{"\u212Aey_id":"aa","gun":"docker.io/a/b","role":"targets"}`), "unknown field"},
		{"duplicated gun", msgSign, sign(`{"key_id":"aa","gun":"docker.io/a/b","role":"targets","gun":"docker.io/evil/x"}`), `"gun" appears twice`},
		{"duplicated field, one escaped", msgSign, sign(`{"key_id":"aa","key\u005fid":"bb"}`), `"key_id" appears twice`},
		{"null body", msgSign, sign(`null`), "null is not a value"},
		{"null field", msgSign, sign(`{"key_id":null}`), "null is not a value"},
		{"data in the JSON", msgSign, bulk(`{"key_id":"aa","data":`+b64+`}`, ""), `field "data" goes after the JSON`},
		{"data in the JSON and after it", msgSign, sign(`{"key_id":"aa","data":` + b64 + `}`), `field "data" goes after the JSON`},
		{"data in the JSON, escaped", msgSign, sign(`{"key_id":"aa","d\u0061ta":` + b64 + `}`), `field "data" goes after the JSON`},
		{"payload in the JSON", msgSignPayload, bulk(`{"key_id":"aa","format":"cosign","payload":`+b64+`}`, data), `field "payload" goes after the JSON`},
		{"a version-1 sign body", msgSign, `{"key_id":"aa","data":` + b64 + `}`, "JSON length"},
		{"a version-1 sign-payload body", msgSignPayload, `{"key_id":"aa","format":"cosign","payload":` + b64 + `}`, "JSON length"},
		{"body shorter than the JSON length", msgSign, "\x00\x00\x02", "shorter than its 4-byte JSON length"},
		{"JSON length past the body", msgSign, "\x00\x00\x00\x03{}", "JSON length 3 is more than the 2 bytes"},
		{"JSON length cutting the JSON", msgSign, "\x00\x00\x00\x02" + `{"key_id":"aa"}`, "unterminated string"},
		{"JSON length zero", msgSign, "\x00\x00\x00\x00" + data, "empty body"},
		{"base64 with escaped line breaks", msgImport, imp(`"eyJfdHlwZSI6IlRh\r\ncmdldHMifQ=="`), "not standard base64"},
		{"base64 with an escaped slash", msgImport, imp(`"ab\/="`), "not standard base64"},
		{"base64 with non-zero padding bits", msgImport, imp(`"YR=="`), "canonical"},
		{"base64 url alphabet", msgImport, imp(`"-_-_"`), "not standard base64"},
		{"base64 without padding", msgImport, imp(`"eyJhIjoxfQ"`), "base64"},
		{"invalid UTF-8 in gun", msgSign, sign("{\"key_id\":\"aa\",\"gun\":\"docker.io/a/\xff\"}"), "invalid UTF-8"},
		{"lone surrogate in gun", msgSign, sign(`{"key_id":"aa","gun":"docker.io/a/\ud800"}`), "surrogate"},
		{"raw control character", msgSign, sign("{\"key_id\":\"a\ta\"}"), "control character"},
		{"trailing data", msgSign, sign(`{"key_id":"aa"} {}`), "after the JSON value"},
		{"trailing garbage", msgSign, sign(`{"key_id":"aa"}x`), "after the JSON value"},
		{"unknown field", msgSign, sign(`{"key_id":"aa","skip_policy":true}`), "unknown field"},
		{"embedded field in another case", msgGenerate, `{"Role":"targets","gun":"docker.io/a/b"}`, `unknown field "Role"`},
		{"Go field name", msgGenerate, `{"role":"targets","Algorithm":"rsa"}`, `unknown field "Algorithm"`},
		{"nested field in another case", msgGenerate, `{"role":"targets","policy":{"PIN":"always"}}`, `unknown field "PIN"`},
		{"nested duplicate", msgGenerate, `{"role":"targets","policy":{"pin":"once","pin":"always"}}`, "appears twice"},
		{"nested null", msgGenerate, `{"role":"targets","policy":null}`, "null"},
		{"integer with a fraction", msgGenerate, `{"role":"targets","bits":3072.0}`, "integer"},
		{"integer with an exponent", msgGenerate, `{"role":"targets","bits":3e3}`, "integer"},
		{"integer too large", msgGenerate, `{"role":"targets","bits":99999999999999999999}`, "does not fit"},
		{"time not RFC 3339", msgCertifyRoot, `{"key_id":"aa","gun":"docker.io/a/b","not_before":"2026-01-02","not_after":"2036-01-02T00:00:00Z"}`, "RFC 3339"},
		{"time as a number", msgCertifyRoot, `{"key_id":"aa","not_before":1767225600}`, "want a JSON string"},
		{"pin not base64", msgUnlock, `{"backend":"b","pin":"123456!"}`, "base64"},
		{"pin as a string with a newline", msgUnlock, `{"backend":"b","pin":"MTIz\nNDU2"}`, "base64"},
		{"array body", msgAttest, `[{"key_id":"aa"}]`, "want a JSON object"},
		{"empty body", msgAttest, ``, "empty body"},
		{"byte order mark", msgAttest, "\ufeff{\"key_id\":\"aa\"}", "want a JSON object"},
		{"huge unknown field name is quoted short", msgAttest, `{"` + strings.Repeat("x", 1<<20) + `":1}`, `"...;`},
	}
	a := newRecordingAgent()
	path, _ := serveFake(t, a)
	c := rawConn(t, path)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, refused := a.callCount(), len(a.recorded())
			f := rawRequest(t, c, tt.typ, tt.body)
			if n := a.callCount() - calls; n != 0 {
				t.Fatalf("the attack reached the agent (%s answered)", f.typ)
			}
			b := failureOf(t, f)
			if b.Code != CodeInvalidRequest || !strings.Contains(b.Message, tt.want) {
				t.Fatalf("code %v %q, want invalid request with %q", b.Code, b.Message, tt.want)
			}
			if len(b.Message) > 1024 {
				t.Fatalf("message of %d bytes", len(b.Message))
			}
			r := a.recorded()[refused:]
			if len(r) != 1 || r[0].op != tt.typ.String() || r[0].err != b.Message {
				t.Fatalf("refusals %+v, want one for %s with the message", r, tt.typ)
			}
		})
	}
	// The connection is still good, and exact requests pass.
	for _, body := range []string{
		sign(`{"key_id":"aa","gun":"docker.io/a/b","role":"targets"}`),
		bulk(" {\n\t\"key_id\" : \"a\\u0061\"}\n", ""),
		bulk(`{}`, ""),
	} {
		if f := rawRequest(t, c, msgSign, body); f.typ != msgSign|msgSuccess {
			t.Fatalf("%s refused: %+v", body, failureOf(t, f))
		}
	}
	if f := rawRequest(t, c, msgGenerate, `{"role":"targets","name":"n","gun":"g","algorithm":"rsa","bits":4096,"backend":"b","policy":{"pin":"once","touch":"never"}}`); f.typ != msgGenerate|msgSuccess {
		t.Fatalf("generate refused: %+v", failureOf(t, f))
	}
	if f := rawRequest(t, c, msgCertifyRoot, `{"key_id":"aa","gun":"g","not_before":"2026-01-02T03:04:05Z","not_after":"2036-01-02T03:04:05.5+01:00"}`); f.typ != msgCertifyRoot|msgSuccess {
		t.Fatalf("certify-root refused: %+v", failureOf(t, f))
	}
}

// Every refusal before an agent method reaches the agent's RecordRefused,
// named by the message type or "frame".
func TestRefusalsRecorded(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		op    string
		code  Code
		ends  bool // the connection is closed after
	}{
		{"unknown type", encodeFrame(frame{version: Version, typ: 0x42}), "frame", CodeUnknownMessageType, false},
		{"response type", encodeFrame(frame{version: Version, typ: msgSign | msgSuccess}), "frame", CodeUnknownMessageType, false},
		{"version 1", encodeFrame(frame{version: 1, typ: msgList}), "list", CodeUnsupportedVersion, false},
		{"version 3", encodeFrame(frame{version: 3, typ: msgList}), "list", CodeUnsupportedVersion, false},
		{"body on list", encodeFrame(frame{version: Version, typ: msgList, body: []byte("{}")}), "list", CodeInvalidRequest, false},
		{"oversized", rawFrame(0xFFFFFFFF), "frame", CodeInvalidRequest, true},
		{"too short", rawFrame(1, 1), "frame", CodeInvalidRequest, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newRecordingAgent()
			path, _ := serveFake(t, a)
			c := rawConn(t, path)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(tt.frame)
			f, err := readFrame(c, maxFrameBytes)
			if err != nil {
				t.Fatal(err)
			}
			if b := failureOf(t, f); b.Code != tt.code {
				t.Fatalf("code %v, want %v", b.Code, tt.code)
			}
			if tt.ends {
				if _, err := readFrame(c, maxFrameBytes); err == nil {
					t.Fatalf("connection still open after %s", tt.name)
				}
			} else if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess {
				t.Fatalf("the connection did not go on: %s", f.typ)
			}
			r := a.recorded()
			if len(r) != 1 || r[0].op != tt.op {
				t.Fatalf("refusals %+v, want one for %q", r, tt.op)
			}
		})
	}
}

// Every request type is one checkStrict can walk: a field added to a
// request (in package agent) with a type it does not know would make every
// such request fail, so it fails here first.
func TestStrictKnowsEveryRequestType(t *testing.T) {
	for typ, mk := range requestTypes {
		if err := checkable(reflect.TypeOf(mk()).Elem()); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if len(requestTypes) != len(msgNames)-1-3 { // all but failure, list, lock, status
		t.Errorf("requestTypes lists %d types; add the new request type to it", len(requestTypes))
	}
	if checkable(reflect.TypeFor[map[int]string]()) == nil || checkable(reflect.TypeFor[float64]()) == nil {
		t.Error("checkable accepts what checkStrict cannot walk")
	}
}

func TestStrictMapsAndPointers(t *testing.T) {
	type req struct {
		M map[string]int `json:"m"`
		P *string        `json:"p"`
	}
	for body, ok := range map[string]bool{
		`{"m":{"a":1,"b":2},"p":"x"}`: true,
		`{"m":{"a":1,"a":2}}`:         false,
		`{"m":{"a":null}}`:            false,
		`{"p":null}`:                  false,
		`{"m":{"a":"1"}}`:             false,
	} {
		if err := checkStrict([]byte(body), new(req), ""); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", body, err, ok)
		}
	}
}
