package cosign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/cosign"
)

const digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func payload(ref string) string {
	return `{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`
}

// TestCheck: only simple-signing payloads, strictly parsed; a bound key
// only for its repository, normalised as docker does.
func TestCheck(t *testing.T) {
	free := agent.KeyInfo{KeyMeta: agent.KeyMeta{Name: "free", Role: agent.RoleCosign}}
	bound := agent.KeyInfo{KeyMeta: agent.KeyMeta{Name: "app", Role: agent.RoleCosign, GUN: "registry.example.com/team/app"}}
	hub := agent.KeyInfo{KeyMeta: agent.KeyMeta{Name: "hub", Role: agent.RoleCosign, GUN: "docker.io/library/alpine"}}
	now := time.Now()
	for _, c := range []struct {
		name    string
		key     agent.KeyInfo
		payload string
		err     string // "" when accepted
	}{
		{"plain", free, payload("registry.example.com/team/app"), ""},
		{"annotations", free, `{"critical":{"identity":{"docker-reference":"r.example/a"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":{"sig":"by ci","n":[1,{"a":2}]}}`, ""},
		{"no optional", free, `{"critical":{"identity":{"docker-reference":"r.example/a"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"}}`, ""},
		{"bound, same repo", bound, payload("registry.example.com/team/app"), ""},
		{"bound, tag", bound, payload("registry.example.com/team/app:v1"), ""},
		{"bound, own digest", bound, payload("registry.example.com/team/app@" + digest), ""},
		{"hub normalised", hub, payload("index.docker.io/library/alpine"), ""},
		{"hub short", hub, payload("alpine"), ""},
		{"bound, other repo", bound, payload("registry.example.com/team/other"), "signs only for registry.example.com/team/app, not registry.example.com/team/other"},
		{"bound, other registry", bound, payload("evil.example.com/team/app"), "signs only for"},
		// Docker 28 reads an upper-case first component as a registry
		// host: another name than the key's, so another repository.
		{"bound, host spelled in capitals", bound, payload("Registry.Example.com/team/app"), "signs only for registry.example.com/team/app, not Registry.Example.com/team/app"},
		{"hub, user spelled in capitals", hub, payload("Library/alpine"), "signs only for"},
		{"other digest in reference", free, payload("r.example/a@sha256:" + strings.Repeat("0", 64)), "names another digest"},
		{"not json", free, "hello", "not a simple-signing payload"},
		{"tuf", free, `{"_type":"Targets","version":1}`, "not a simple-signing payload"},
		{"notary payload", free, `{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest + `","size":1}}`, "not a simple-signing payload"},
		{"wrong type", free, strings.Replace(payload("r.example/a"), "cosign container image signature", "atomic container signature", 1), "critical.type"},
		{"unknown critical field", free, strings.Replace(payload("r.example/a"), `"type"`, `"extra":1,"type"`, 1), "unknown field"},
		{"unknown identity field", free, strings.Replace(payload("r.example/a"), `"docker-reference"`, `"x":"y","docker-reference"`, 1), "unknown field"},
		{"unknown top field", free, strings.Replace(payload("r.example/a"), `"optional"`, `"extra":1,"optional"`, 1), "unknown field"},
		{"duplicate reference", free, strings.Replace(payload("r.example/a"), `"docker-reference":"r.example/a"`, `"docker-reference":"r.example/a","docker-reference":"r.example/b"`, 1), `"docker-reference" appears twice`},
		{"duplicate critical", free, `{"critical":{},` + payload("r.example/a")[1:], `"critical" appears twice`},
		{"duplicate in optional", free, strings.Replace(payload("r.example/a"), `"optional":null`, `"optional":{"a":1,"a":2}`, 1), `"a" appears twice`},
		{"trailing data", free, payload("r.example/a") + `{}`, "after its JSON object"},
		{"no reference", free, strings.Replace(payload("r.example/a"), `"docker-reference":"r.example/a"`, `"docker-reference":""`, 1), "no critical.identity.docker-reference"},
		{"bad reference", free, payload("UPPER/Case"), "not an image reference"},
		{"short digest", free, strings.Replace(payload("r.example/a"), digest, "sha256:abc", 1), "docker-manifest-digest"},
		{"upper-case digest", free, strings.Replace(payload("r.example/a"), digest, strings.ToUpper(digest), 1), "docker-manifest-digest"},
		{"no critical", free, `{"optional":null}`, `no "critical"`},
		{"huge", free, `{"critical":` + strings.Repeat(" ", 70<<10) + `}`, "at most"},
		{"deep", free, strings.Replace(payload("r.example/a"), `"optional":null`, `"optional":{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, 1), "nested deeper"},
		{"not utf-8", free, "{\"critical\":\"\xff\"}", "not UTF-8"},
	} {
		d, err := cosign.Policy{}.Check(agent.PolicyRequest{Key: c.key, Payload: []byte(c.payload), Now: now})
		facts := d.Facts
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.err == "" && (facts["digest"] != digest || facts["reference"] == ""):
			t.Errorf("%s: facts %v", c.name, facts)
		case c.err != "" && err == nil:
			t.Errorf("%s: accepted, want %q", c.name, c.err)
		case c.err != "" && (!strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "cosign: ")):
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
}

// TestSignVerifies: what Sign makes is what sigstore's verifier (the one
// cosign verify --key uses) accepts, for each key kind.
func TestSignVerifies(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := []byte(payload("registry.example.com/team/app"))
	for _, c := range []struct {
		key  crypto.Signer
		hash crypto.Hash
		alg  string
	}{
		{p256, crypto.SHA256, "ECDSA-P-256-SHA-256"},
		{p384, crypto.SHA384, "ECDSA-P-384-SHA-384"},
		{r2048, crypto.SHA256, "RSA-PKCS1v15-2048-SHA-256"},
	} {
		sig, alg, err := cosign.Policy{}.Sign(c.key, msg)
		if err != nil || alg != c.alg {
			t.Fatalf("%s: %q %v", c.alg, alg, err)
		}
		v, err := signature.LoadVerifier(c.key.Public(), c.hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Errorf("%s: sigstore's verifier refuses the signature: %v", c.alg, err)
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(msg, ' '))); err == nil {
			t.Errorf("%s: verifies another message", c.alg)
		}
		if dv, err := signature.LoadDefaultVerifier(c.key.Public()); err != nil {
			t.Fatal(err)
		} else if err := dv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Errorf("%s: sigstore's default verifier refuses the signature: %v", c.alg, err)
		}
	}
}

// FuzzParse: whatever Parse accepts, sigstore's own payload parser (what
// cosign verify reads) reads as the same reference and digest.
func FuzzParse(f *testing.F) {
	f.Add([]byte(payload("registry.example.com/team/app")))
	f.Add([]byte(payload("alpine")))
	f.Add([]byte(strings.Replace(payload("r.example/a"), `"optional":null`, `"optional":{"a":"b"}`, 1)))
	f.Add([]byte(strings.Replace(payload("r.example/a"), `"docker-reference":"r.example/a"`, `"docker-reference":"r.example/a","docker-reference":"r.example/b"`, 1)))
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r.example/\u0061"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := cosign.Parse(data)
		if err != nil {
			return
		}
		var theirs sigpayload.SimpleContainerImage
		if err := json.Unmarshal(data, &theirs); err != nil {
			t.Fatalf("accepted %q, which sigstore's parser refuses: %v", data, err)
		}
		if theirs.Critical.Identity.DockerReference != p.Reference || theirs.Critical.Image.DockerManifestDigest != p.Digest || theirs.Critical.Type != cosign.SignatureType {
			t.Fatalf("%q: we read %+v, sigstore reads %+v", data, p, theirs.Critical)
		}
	})
}
