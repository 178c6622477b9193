package tuf_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/format/tuf"
)

// TestDigestBesideCheck: a payload large enough to be hashed beside the
// check is signed over its own SHA-256 (the signature verifies over the
// payload), through the Keyring on SoftHSM; the same payload refused
// hands no digest over and is not signed.
func TestDigestBesideCheck(t *testing.T) {
	var tags []string
	for i := range 2000 { // about 114 KB: above concurrentDigestMin
		tags = append(tags, fmt.Sprintf("tag-%06d", i))
	}
	data := agenttest.TargetsJSON(tags...)
	if len(data) < 100<<10 {
		t.Fatalf("the payload is %d bytes; the test needs one hashed beside the check", len(data))
	}
	var log bytes.Buffer
	k, _ := newKeyring(t, agent.AuditTo(&log))
	ctx := context.Background()
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*ecdsa.PublicKey)
	sum := sha256.Sum256(data)
	r, s := new(big.Int).SetBytes(sig.Signature[:32]), new(big.Int).SetBytes(sig.Signature[32:])
	if sig.Method != "ecdsa" || !ecdsa.Verify(pub, sum[:], r, s) {
		t.Fatalf("the signature (%s) does not verify over the payload's SHA-256", sig.Method)
	}

	// The policy's own answer: a Digest only when it says yes, and the
	// digest is the payload's.
	info := key
	d, err := tuf.Policy{}.Check(agent.PolicyRequest{Key: info, Payload: data, GUN: agenttest.GUN, Role: "targets/releases"})
	if err != nil || d.Digest == nil || !bytes.Equal(d.Digest, sum[:]) {
		t.Fatalf("Check = %v, digest set %v; want a yes with the payload's SHA-256", err, d.Digest != nil)
	}
	d, err = tuf.Policy{}.Check(agent.PolicyRequest{Key: info, Payload: data, GUN: agenttest.GUN, Role: "targets"})
	if err == nil || d.Digest != nil {
		t.Fatalf("Check for the wrong role = %v, digest set %v; want a refusal without a digest", err, d.Digest != nil)
	}
	sig, err = k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets", Data: data})
	if !errors.Is(err, agent.ErrDenied) || len(sig.Signature) != 0 {
		t.Fatalf("a delegation key signing the targets role = %+v, %v; want a refusal", sig, err)
	}
	if _, _, err := (tuf.Policy{}).SignDigest(nil, sum[:20]); err == nil || !strings.Contains(err.Error(), "no SHA-256") {
		t.Fatalf("SignDigest of 20 bytes = %v; want a refusal", err)
	}
}
