//go:build cgo

package piv

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/piv/virtualcard"
)

// TestNotationKeysOnCard: notation keys (P-256, P-384) on the virtual
// card get a signing certificate made by the agent and kept in a retired
// slot, found again after the store is reopened, and sign a Notary payload
// as raw r||s with the hash of their spec.
func TestNotationKeysOnCard(t *testing.T) {
	f := setUpCard(t, virtualcard.Options{})
	s := openStore(t, f, Options{}, testPIN)
	k := agent.New(agent.Options{Stores: []agent.KeyStore{s}})
	ctx := context.Background()
	for _, bits := range []int{256, 384} {
		name := map[int]string{256: "n256", 384: "n384"}[bits]
		info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: name}, Bits: bits})
		if err != nil {
			t.Fatal(err)
		}
		chain, err := k.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: info.ID})
		if err != nil {
			t.Fatalf("CertifyKey on the card: %v", err)
		}
		// a second agent over a fresh store reads the certificate from the card
		k2 := agent.New(agent.Options{Stores: []agent.KeyStore{openStore(t, f, Options{}, testPIN)}})
		keys, err := k2.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, kk := range keys {
			if kk.ID == info.ID {
				found = len(kk.Chain) == 1 && string(kk.Chain[0]) == string(chain[0])
			}
		}
		if !found {
			t.Fatalf("%s: the card does not give the certificate back", name)
		}
		alg := map[int]string{256: "ES256", 384: "ES384"}[bits]
		hdr, _ := json.Marshal(map[string]any{"alg": alg, "cty": notation.MediaTypePayload, "crit": []string{"io.cncf.notary.signingScheme"},
			"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": time.Now().Format(time.RFC3339)})
		body := `{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":10}}`
		in := []byte(base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString([]byte(body)))
		sig, err := k.SignPayload(ctx, agent.PayloadRequest{KeyID: info.ID, Format: notation.Format, Payload: in})
		if err != nil {
			t.Fatalf("%s: SignPayload: %v", name, err)
		}
		cert, _ := x509.ParseCertificate(chain[0])
		pub := cert.PublicKey.(*ecdsa.PublicKey)
		var digest []byte
		if bits == 256 {
			d := sha256.Sum256(in)
			digest = d[:]
		} else {
			d := sha512.Sum384(in)
			digest = d[:]
		}
		size := bits / 8
		if len(sig.Signature) != 2*size || !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig.Signature[:size]), new(big.Int).SetBytes(sig.Signature[size:])) {
			t.Fatalf("%s: the signature (%d bytes) does not verify as raw r||s", name, len(sig.Signature))
		}
	}
}
