package notation_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
)

var now = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func payload(annotations map[string]string) []byte {
	a := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 528}
	if annotations != nil {
		a["annotations"] = annotations
	}
	b, _ := json.Marshal(map[string]any{"targetArtifact": a})
	return b
}

// selfSigned makes the certificate notation wants: critical keyUsage
// digitalSignature and the code-signing EKU.
func selfSigned(t *testing.T, priv crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test", Organization: []string{"t"}, Country: []string{"US"}, Province: []string{"WA"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// policySigner is a notation-core-go remote signer that asks the policy,
// as the agent does, what the plugin would send it.
type policySigner struct {
	t    *testing.T
	priv crypto.Signer
	cert *x509.Certificate
	key  agent.KeyInfo
	seen []byte
}

func (s *policySigner) Sign(p []byte) ([]byte, []*x509.Certificate, error) {
	s.seen = p
	if _, err := (notation.Policy{}).Check(agent.PolicyRequest{Key: s.key, Payload: p, Now: now}); err != nil {
		return nil, nil, err
	}
	sig, _, err := (notation.Policy{}).Sign(s.priv, p)
	return sig, []*x509.Certificate{s.cert}, err
}

func (s *policySigner) KeySpec() (signature.KeySpec, error) { return signature.ExtractKeySpec(s.cert) }

func keyInfo(t *testing.T, priv crypto.Signer, gun string) agent.KeyInfo {
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return agent.KeyInfo{ID: "k", KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "n", GUN: gun}, PublicKey: der}
}

func keys(t *testing.T) map[string]crypto.Signer {
	out := map[string]crypto.Signer{}
	for name, c := range map[string]elliptic.Curve{"EC-256": elliptic.P256(), "EC-384": elliptic.P384()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = k
	}
	for _, bits := range []int{2048, 3072} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		out["RSA-"+strconv.Itoa(bits)] = k
	}
	return out
}

// TestEnvelopesVerify signs JWS and COSE envelopes through notation-core-go
// with the policy in the signer's place, and verifies them with
// notation-core-go: the policy accepts what notation sends and its
// signatures are what notation verifies.
func TestEnvelopesVerify(t *testing.T) {
	for spec, priv := range keys(t) {
		for _, mt := range []string{jws.MediaTypeEnvelope, cose.MediaTypeEnvelope} {
			t.Run(spec+"/"+mt, func(t *testing.T) {
				s := &policySigner{t: t, priv: priv, cert: selfSigned(t, priv), key: keyInfo(t, priv, "")}
				env, err := signature.NewEnvelope(mt)
				if err != nil {
					t.Fatal(err)
				}
				blob, err := env.Sign(&signature.SignRequest{
					Payload: signature.Payload{ContentType: notation.MediaTypePayload, Content: payload(nil)},
					Signer:  s, SigningTime: now, Expiry: now.Add(time.Hour), SigningScheme: signature.SigningSchemeX509,
				})
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				env2, err := signature.ParseEnvelope(mt, blob)
				if err != nil {
					t.Fatal(err)
				}
				content, err := env2.Verify()
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if string(content.Payload.Content) != string(payload(nil)) {
					t.Fatalf("payload %s", content.Payload.Content)
				}
				d, err := (notation.Policy{}).Check(agent.PolicyRequest{Key: s.key, Payload: s.seen, Now: now})
				facts := d.Facts
				if err != nil {
					t.Fatal(err)
				}
				wantEnv := "jws"
				if mt == cose.MediaTypeEnvelope {
					wantEnv = "cose"
				}
				if facts["digest"] != digest || facts["media_type"] != "application/vnd.oci.image.manifest.v1+json" || facts["envelope"] != wantEnv {
					t.Fatalf("facts %v", facts)
				}
			})
		}
	}
}

func jwsInput(hdr map[string]any, body []byte) []byte {
	h, _ := json.Marshal(hdr)
	return []byte(base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(body))
}

func goodHeader() map[string]any {
	return map[string]any{
		"alg": "ES256", "cty": notation.MediaTypePayload, "crit": []string{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": now.Format(time.RFC3339),
	}
}

func with(h map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range h {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func coseInput(t *testing.T, prot map[any]any, body []byte, ctx string) []byte {
	em, _ := cbor.EncOptions{Time: cbor.TimeUnix, TimeTag: cbor.EncTagRequired}.EncMode()
	p, err := em.Marshal(prot)
	if err != nil {
		t.Fatal(err)
	}
	b, err := em.Marshal([]any{ctx, p, []byte{}, body})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckRefuses(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	free := keyInfo(t, ec, "")
	bound := keyInfo(t, ec, "registry.example/app")
	goodCOSE := map[any]any{1: -7, 3: notation.MediaTypePayload, "io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": now, 2: []any{"io.cncf.notary.signingScheme"}}
	cases := []struct {
		name    string
		key     agent.KeyInfo
		in      []byte
		wantErr string // "" means accepted
	}{
		{"good jws", free, jwsInput(goodHeader(), payload(nil)), ""},
		{"good cose", free, coseInput(t, goodCOSE, payload(nil), "Signature1"), ""},
		{"raw digest", free, make([]byte, 32), "neither a JWS"},
		{"tuf json", free, []byte(`{"_type":"Targets"}`), "neither a JWS"},
		{"not notary payload", free, jwsInput(goodHeader(), []byte(`{"critical":{}}`)), "not a Notary payload"},
		{"two artifacts", free, jwsInput(goodHeader(), []byte(`{"targetArtifact":{"mediaType":"a/b","digest":"`+digest+`","size":1},"targetArtifact2":{}}`)), "not a Notary payload"},
		{"trailing data", free, jwsInput(goodHeader(), append(payload(nil), []byte(`{}`)...)), "after its JSON"},
		{"bad digest", free, jwsInput(goodHeader(), []byte(`{"targetArtifact":{"mediaType":"a/b","digest":"sha256:00","size":1}}`)), "digest"},
		{"wrong alg", free, jwsInput(with(goodHeader(), "alg", "ES384"), payload(nil)), "algorithm"},
		{"wrong cty", free, jwsInput(with(goodHeader(), "cty", "application/json"), payload(nil)), "content type"},
		{"no time", free, jwsInput(with(goodHeader(), "io.cncf.notary.signingTime", nil), payload(nil)), "no signing time"},
		{"future", free, jwsInput(with(goodHeader(), "io.cncf.notary.signingTime", now.Add(time.Hour).Format(time.RFC3339)), payload(nil)), "from the agent's clock"},
		{"past", free, jwsInput(with(goodHeader(), "io.cncf.notary.signingTime", now.Add(-time.Hour).Format(time.RFC3339)), payload(nil)), "from the agent's clock"},
		{"expiry before", free, jwsInput(with(goodHeader(), "io.cncf.notary.expiry", now.Add(-time.Minute).Format(time.RFC3339)), payload(nil)), "expiry"},
		{"cose wrong context", free, coseInput(t, goodCOSE, payload(nil), "Signature"), "Signature1"},
		{"cose wrong alg", free, coseInput(t, map[any]any{1: -37, 3: notation.MediaTypePayload, "io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": now}, payload(nil), "Signature1"), "algorithm"},
		{"cose no time", free, coseInput(t, map[any]any{1: -7, 3: notation.MediaTypePayload, "io.cncf.notary.signingScheme": "notary.x509"}, payload(nil), "Signature1"), "no signing time"},
		{"bound, unannotated", bound, jwsInput(goodHeader(), payload(nil)), "does not say"},
		{"bound, other repo", bound, jwsInput(goodHeader(), payload(map[string]string{notation.RepositoryAnnotation: "registry.example/other"})), "not to registry.example/other"},
		{"bound, its repo", bound, jwsInput(goodHeader(), payload(map[string]string{notation.RepositoryAnnotation: "registry.example/app"})), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := (notation.Policy{}).Check(agent.PolicyRequest{Key: c.key, Payload: c.in, Now: now})
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error %q, want %q", err, c.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "notation: "):
				t.Fatalf("error not prefixed: %v", err)
			}
		})
	}
}

func TestSpecOf(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := notation.SpecOf(k.Public()); err == nil || !strings.Contains(err.Error(), "RSA-1024") {
		t.Fatalf("RSA-1024: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	s, err := notation.SpecOf(ec.Public())
	if err != nil || s.Name != "EC-384" || s.Hash != crypto.SHA384 || s.Algorithm != "ECDSA-SHA-384" {
		t.Fatalf("%+v %v", s, err)
	}
}
