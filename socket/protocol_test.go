package socket_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// exampleFrame reads the hex dump after "<!-- sign-example -->" in
// docs/PROTOCOL.md.
func exampleFrame(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- sign-example -->\n```\n")
	if !ok {
		t.Fatal("PROTOCOL.md has no sign example")
	}
	block, _, _ := strings.Cut(rest, "```")
	var raw []byte
	for line := range strings.Lines(block) {
		hx := strings.ReplaceAll(line[:min(len(line), 48)], " ", "")
		b, err := hex.DecodeString(strings.TrimSpace(hx))
		if err != nil {
			t.Fatalf("example line %q: %v", line, err)
		}
		raw = append(raw, b...)
	}
	return raw
}

// The sign example in PROTOCOL.md is a well-formed frame, and the agent,
// on a real token with a targets key for the example's repository, signs
// it: the documented payload is one the policy accepts.
func TestProtocolExample(t *testing.T) {
	raw := exampleFrame(t)
	if n := binary.BigEndian.Uint32(raw); int(n) != len(raw)-4 || raw[4] != socket.Version || raw[5] != 0x02 {
		t.Fatalf("example header: length %d for %d bytes, version %d, type %d", n, len(raw)-4, raw[4], raw[5])
	}
	// A bulk body: the JSON's length, the JSON, the data.
	body := raw[6:]
	n := binary.BigEndian.Uint32(body)
	if int(n) > len(body)-4 {
		t.Fatalf("example JSON length %d for a %d-byte body", n, len(body))
	}
	js, data := body[4:4+n], body[4+n:]

	tok := softhsmtest.New(t, "13579")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}})
	t.Cleanup(func() { k.Close() })
	var req agent.SignRequest
	if err := json.Unmarshal(js, &req); err != nil || req.Data != nil {
		t.Fatalf("example JSON %s: %+v, %v", js, req, err)
	}
	key, err := k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleTargets, Name: "repo", GUN: req.GUN}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent", "sock")
	l, err := socket.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, k, socket.ServeOptions{}) }()
	t.Cleanup(func() { cancel(); <-done })

	// The example's bytes, with only the key ID replaced (and the two
	// lengths it changes).
	js = bytes.Replace(js, []byte(`"key_id":"ab12"`), []byte(`"key_id":"`+key.ID+`"`), 1)
	frame := binary.BigEndian.AppendUint32(nil, uint32(2+4+len(js)+len(data)))
	frame = append(frame, raw[4], raw[5])
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(js)))
	frame = append(append(frame, js...), data...)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var hdr [6]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(hdr[:4])-2)
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatal(err)
	}
	if hdr[5] != 0x82 {
		t.Fatalf("the documented example was refused: type 0x%02x %s", hdr[5], resp)
	}
	var sig agent.Signature
	if err := json.Unmarshal(resp, &sig); err != nil || sig.KeyID != key.ID || len(sig.Signature) != 64 {
		t.Fatalf("signature %+v, %v", sig, err)
	}
}
