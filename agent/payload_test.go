package agent_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// testFormat signs payloads that start with "ok:" for cosign-role keys; it
// stands for format/notation and format/cosign, which test themselves.
type testFormat struct{}

func (testFormat) Roles() []agent.Role { return []agent.Role{agent.RoleCosign} }

func (testFormat) Check(req agent.PolicyRequest) (agent.Decision, error) {
	rest, ok := bytes.CutPrefix(req.Payload, []byte("ok:"))
	if !ok {
		return agent.Decision{}, fmt.Errorf("not a test payload")
	}
	return agent.Decision{Facts: map[string]string{"what": string(rest)}}, nil
}

func (testFormat) Sign(s crypto.Signer, payload []byte) ([]byte, string, error) {
	d := sha256.Sum256(payload)
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	return sig, "ECDSA-SHA-256-DER", err
}

func init() { agent.RegisterFormat("test-format", testFormat{}) }

// TestSignPayload: a payload format signs only with keys made for its
// role, only what its policy accepts, and every request is audited with
// what the policy saw.
func TestSignPayload(t *testing.T) {
	ctx := context.Background()
	var log bytes.Buffer
	k, _ := newKeyring(t, agent.AuditTo(&log))
	tuf, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "dct"}})
	if err != nil {
		t.Fatal(err)
	}
	cos, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "release"}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.SignPayload(ctx, agent.PayloadRequest{KeyID: cos.ID, Format: "test-format", Payload: []byte("ok:image")})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(cos.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("ok:image"))
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig.Signature) || sig.Algorithm != "ECDSA-SHA-256-DER" {
		t.Fatalf("signature %+v does not verify", sig)
	}
	for _, c := range []struct {
		req  agent.PayloadRequest
		want error
		msg  string
	}{
		{agent.PayloadRequest{KeyID: tuf.ID, Format: "test-format", Payload: []byte("ok:image")}, agent.ErrDenied, "is a delegation key"},
		{agent.PayloadRequest{KeyID: cos.ID, Format: "test-format", Payload: []byte("evil")}, agent.ErrDenied, "not a test payload"},
		{agent.PayloadRequest{KeyID: cos.ID, Format: "nosuch", Payload: []byte("ok:x")}, agent.ErrInvalidRequest, "unknown format"},
		{agent.PayloadRequest{KeyID: "00", Format: "test-format", Payload: []byte("ok:x")}, agent.ErrNotFound, "no key"},
	} {
		_, err := k.SignPayload(ctx, c.req)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want %v with %q", c.req, err, c.want, c.msg)
		}
	}
	// A TUF payload is never signed by the format's key either.
	if _, err := k.Sign(ctx, agent.SignRequest{KeyID: cos.ID, GUN: "example.com/a/b", Role: "targets/releases", Data: []byte(`{"_type":"Targets"}`)}); !errors.Is(err, agent.ErrDenied) {
		t.Fatalf("a cosign key signed TUF metadata: %v", err)
	}
	if !strings.Contains(log.String(), `"op":"sign-payload"`) || !strings.Contains(log.String(), `"facts":{"what":"image"}`) {
		t.Fatalf("audit log lacks the payload facts:\n%s", log.String())
	}
	if n := strings.Count(log.String(), `"op":"sign-payload"`); n != 5 {
		t.Fatalf("%d sign-payload audit lines, want 5", n)
	}
}
