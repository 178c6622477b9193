package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// v1Sign is a sign request as a version-1 client writes it: the JSON with
// data in base64 in it (the example of PROTOCOL.md version 1, shortened).
var v1Sign = []byte("\x00\x00\x00\x53\x01\x02" +
	`{"key_id":"ab12","gun":"docker.io/library/alpine","role":"targets","data":"e30="}`)

// A version-1 request, written byte by byte as a version-1 client does, is
// answered in version 1 with code 8 and a message that says what to do; it
// is recorded, and the connection goes on. Other versions are answered in
// version 2.
func TestOtherVersionRequestsRefused(t *testing.T) {
	if n := binary.BigEndian.Uint32(v1Sign); int(n) != len(v1Sign)-4 {
		t.Fatalf("v1Sign length %d for %d bytes", n, len(v1Sign)-4)
	}
	for _, tt := range []struct {
		name      string
		raw       []byte
		op        string
		replyWith byte // the version of the answer
	}{
		{"version 1 sign", v1Sign, "sign", 1},
		{"version 1 list", []byte{0, 0, 0, 2, 1, 1}, "list", 1},
		{"version 0", []byte{0, 0, 0, 2, 0, 1}, "list", Version},
		{"version 3", []byte{0, 0, 0, 2, 3, 8}, "status", Version},
		{"version 255", []byte{0, 0, 0, 2, 255, 1}, "list", Version},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newRecordingAgent()
			path, _ := serveFake(t, a)
			c := rawConn(t, path)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			var hdr [6]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				t.Fatal(err)
			}
			body := make([]byte, binary.BigEndian.Uint32(hdr[:4])-2)
			if _, err := io.ReadFull(c, body); err != nil {
				t.Fatal(err)
			}
			if hdr[4] != tt.replyWith || hdr[5] != 0xFF {
				t.Fatalf("answer of version %d, type 0x%02x; want version %d, failure", hdr[4], hdr[5], tt.replyWith)
			}
			// What a version-1 client does with the answer: decode the
			// failure and print its message.
			var fb failureBody
			if err := json.Unmarshal(body, &fb); err != nil {
				t.Fatal(err)
			}
			err := decodeError(fb)
			want := "this agent speaks protocol version 2, the client version " + strconv.Itoa(int(tt.raw[4]))
			if fb.Code != CodeUnsupportedVersion || !errors.Is(err, ErrUnsupportedVersion) ||
				!strings.Contains(err.Error(), "use the trust-agent, notation-trust-agent and sigstore-kms-trustagent of one release") ||
				!strings.Contains(err.Error(), want) {
				t.Fatalf("code %v: %v", fb.Code, err)
			}
			if a.callCount() != 0 {
				t.Fatal("the agent was called")
			}
			if r := a.recorded(); len(r) != 1 || r[0].op != tt.op || r[0].err != fb.Message {
				t.Fatalf("refusals %+v, want one for %s", r, tt.op)
			}
			if f := rawRequest(t, c, msgList, ""); f.typ != msgList|msgSuccess || f.version != Version {
				t.Fatalf("the connection did not go on: %s, version %d", f.typ, f.version)
			}
		})
	}
}

// A version-2 client that reaches a version-1 agent gets the agent's
// answer (a version-1 failure, code 8) as ErrUnsupportedVersion with a line
// that says what to do, and drops the connection.
func TestClientRefusesVersion1Agent(t *testing.T) {
	srv, cli := unixPair(t)
	// The bytes a version-1 agent answers any version-2 request with.
	old := []byte(`{"code":8,"message":"socket: unsupported protocol version 2, the agent speaks 1; use a client of this agent's version"}`)
	answerWith(t, srv, append([]byte{0, 0, 0, byte(2 + len(old)), 1, 0xFF}, old...))
	c := NewClient(cli)
	defer c.Close()
	_, err := c.Sign(context.Background(), agent.SignRequest{KeyID: "aa", Data: []byte("{}")})
	if !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(),
		"this client speaks protocol version 2, the agent version 1; use the trust-agent, notation-trust-agent and sigstore-kms-trustagent of one release") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("the connection was not dropped")
	}
}

// The client writes a sign request as PROTOCOL.md "Bulk bodies" says, byte
// for byte: the header, the JSON's length, the JSON without data, then the
// data as it is; sign-payload likewise.
func TestClientBulkLayout(t *testing.T) {
	data := []byte("{\"_type\":\"Targets\"}\x00\xff raw")
	for _, tt := range []struct {
		name string
		call func(c *Client) error
		want []byte
	}{
		{"sign", func(c *Client) error {
			_, err := c.Sign(context.Background(), agent.SignRequest{KeyID: "ab", GUN: "g", Role: "targets", Data: data})
			return err
		}, frameBytes(msgSign, `{"key_id":"ab","gun":"g","role":"targets"}`, data)},
		{"sign with no data", func(c *Client) error {
			_, err := c.Sign(context.Background(), agent.SignRequest{KeyID: "ab"})
			return err
		}, frameBytes(msgSign, `{"key_id":"ab","gun":"","role":""}`, nil)},
		{"sign-payload", func(c *Client) error {
			_, err := c.SignPayload(context.Background(), agent.PayloadRequest{KeyID: "ab", Format: "cosign", Payload: data})
			return err
		}, frameBytes(msgSignPayload, `{"key_id":"ab","format":"cosign"}`, data)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := unixPair(t)
			got := make(chan []byte, 1)
			go func() {
				defer srv.Close()
				srv.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, len(tt.want)+16)
				n, _ := io.ReadAtLeast(srv, buf, len(tt.want))
				got <- buf[:n]
			}()
			c := NewClient(cli)
			defer c.Close()
			tt.call(c)
			if g := <-got; !bytes.Equal(g, tt.want) {
				t.Fatalf("wrote %q\nwant  %q", g, tt.want)
			}
		})
	}
}

func frameBytes(typ msgType, js string, data []byte) []byte {
	body := append([]byte(bulk(js, "")), data...)
	return append(append(binary.BigEndian.AppendUint32(nil, uint32(2+len(body))), Version, byte(typ)), body...)
}

// The client's JSON parts of the bulk requests carry every field of the
// agent's request types but the bulk one: a field added to
// agent.SignRequest or agent.PayloadRequest must be added here too.
func TestBulkHeadsMatchRequests(t *testing.T) {
	for _, tt := range []struct {
		head, req any
		bulk      string
	}{
		{signHead{}, agent.SignRequest{}, "data"},
		{payloadHead{}, agent.PayloadRequest{}, "payload"},
	} {
		want := maps.Clone(fieldsOf(reflect.TypeOf(tt.req)).byName)
		if want[tt.bulk] != reflect.TypeFor[[]byte]() {
			t.Fatalf("%T has no []byte field %q", tt.req, tt.bulk)
		}
		delete(want, tt.bulk)
		got := fieldsOf(reflect.TypeOf(tt.head)).byName
		if !maps.Equal(got, want) {
			t.Errorf("%T has fields %v, %T without %q has %v", tt.head, slices.Sorted(maps.Keys(got)), tt.req, tt.bulk, slices.Sorted(maps.Keys(want)))
		}
	}
}
