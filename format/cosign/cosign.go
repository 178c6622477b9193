package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/imageref"
)

// Name is the format's name in agent.PayloadRequest.Format.
const Name = "cosign"

// SignatureType is simple-signing's critical.type for cosign.
const SignatureType = "cosign container image signature"

// maxPayloadBytes caps a payload: cosign's simple-signing JSON is a few
// hundred bytes; annotations in "optional" may add some. Anything larger is
// not a signature payload.
const maxPayloadBytes = 64 << 10

// maxDepth caps the nesting the duplicate-key check walks (annotations are
// flat; 32 is generous and keeps the walk bounded).
const maxDepth = 32

func init() { agent.RegisterFormat(Name, Policy{}) }

// Policy is the cosign PayloadPolicy. The zero value is ready to use.
type Policy struct{}

var _ agent.PayloadPolicy = Policy{}

// Roles is agent.RoleCosign alone: only keys made with --role cosign sign
// here.
func (Policy) Roles() []agent.Role { return []agent.Role{agent.RoleCosign} }

// Payload is what Check reads from a simple-signing payload.
type Payload struct {
	Reference string // critical.identity.docker-reference, as given
	Digest    string // critical.image.docker-manifest-digest
}

type critical struct {
	Identity struct {
		DockerReference *string `json:"docker-reference"`
	} `json:"identity"`
	Image struct {
		DockerManifestDigest *string `json:"docker-manifest-digest"`
	} `json:"image"`
	Type *string `json:"type"`
}

type simpleSigning struct {
	Critical *critical      `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// sha256Digest is compiled on first use, not at every start of every binary
// linking this package.
var sha256Digest = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[a-f0-9]{64}$`) })

// Parse reads a simple-signing payload strictly (see the package
// documentation) and returns its reference and digest.
func Parse(payload []byte) (Payload, error) {
	if len(payload) > maxPayloadBytes {
		return Payload{}, fmt.Errorf("cosign: payload of %d bytes is not a simple-signing payload (at most %d bytes); sign with cosign sign", len(payload), maxPayloadBytes)
	}
	if !utf8.Valid(payload) {
		return Payload{}, errors.New("cosign: payload is not UTF-8 JSON; only cosign's simple-signing payload is signed")
	}
	if err := noDuplicateKeys(payload); err != nil {
		return Payload{}, fmt.Errorf("cosign: payload is not a simple-signing payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var s simpleSigning
	if err := dec.Decode(&s); err != nil {
		return Payload{}, fmt.Errorf("cosign: payload is not a simple-signing payload: %v; only cosign's {\"critical\":...,\"optional\":...} is signed", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Payload{}, errors.New("cosign: payload has data after its JSON object; only one simple-signing object is signed")
	}
	c := s.Critical
	switch {
	case c == nil:
		return Payload{}, errors.New("cosign: payload has no \"critical\" object; only cosign's simple-signing payload is signed")
	case c.Type == nil || *c.Type != SignatureType:
		return Payload{}, fmt.Errorf("cosign: payload's critical.type is not %q; only cosign container image signatures are signed", SignatureType)
	case c.Identity.DockerReference == nil || *c.Identity.DockerReference == "":
		return Payload{}, errors.New("cosign: payload has no critical.identity.docker-reference; it must name the image's repository")
	case c.Image.DockerManifestDigest == nil || !sha256Digest().MatchString(*c.Image.DockerManifestDigest):
		return Payload{}, errors.New("cosign: payload's critical.image.docker-manifest-digest is not sha256:<64 lower-case hex digits>")
	}
	ref, digest := *c.Identity.DockerReference, *c.Image.DockerManifestDigest
	if _, err := repository(ref, digest); err != nil {
		return Payload{}, err
	}
	return Payload{Reference: ref, Digest: digest}, nil
}

// repository normalises a reference's repository as docker does
// ("alpine" and "index.docker.io/library/alpine:3" are both
// "docker.io/library/alpine"). A reference may carry a digest (cosign's
// ClaimedIdentity may be REPO@DIGEST) only when it is the payload's own
// manifest digest.
func repository(ref, digest string) (string, error) {
	named, err := imageref.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("cosign: payload's docker-reference %q is not an image reference: %v", ref, err)
	}
	if d := named.Digest(); d != "" && d != digest {
		return "", fmt.Errorf("cosign: payload's docker-reference %q names another digest than critical.image (%s); sign one image at a time", ref, digest)
	}
	return named.Name(), nil
}

// Check accepts a simple-signing payload; for a key bound to a repository,
// only one whose docker-reference is in it. Decision.Facts: reference,
// digest.
func (Policy) Check(req agent.PolicyRequest) (agent.Decision, error) {
	facts, err := check(req.Key, req.Payload)
	return agent.Decision{Facts: facts}, err
}

func check(key agent.KeyInfo, payload []byte) (map[string]string, error) {
	p, err := Parse(payload)
	if err != nil {
		return nil, err
	}
	facts := map[string]string{"reference": p.Reference, "digest": p.Digest}
	if key.GUN != "" {
		want, err := repository(key.GUN, "")
		if err != nil {
			return facts, fmt.Errorf("cosign: key %s is bound to %q, which is not a repository name; make a new key with --repo", key.Name, key.GUN)
		}
		got, _ := repository(p.Reference, p.Digest)
		if got != want {
			return facts, fmt.Errorf("cosign: key %s signs only for %s, not %s; use a key made for that repository (key generate NAME --role cosign --repo %s)", key.Name, want, got, got)
		}
	}
	return facts, nil
}

// Hash is the digest algorithm a key signs with: SHA-384 for P-384 (and
// P-521: SHA-512), SHA-256 otherwise, as sigstore's default verifier for
// the key expects.
func Hash(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve {
		case elliptic.P384():
			return crypto.SHA384
		case elliptic.P521():
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

// Sign hashes payload and signs it: ECDSA in ASN.1 DER (what a
// crypto.Signer returns), RSA as PKCS #1 v1.5.
func (Policy) Sign(signer crypto.Signer, payload []byte) ([]byte, string, error) {
	pub := signer.Public()
	h := Hash(pub)
	hh := h.New()
	hh.Write(payload)
	digest := hh.Sum(nil)
	var alg string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		alg = fmt.Sprintf("ECDSA-%s-SHA-%d", k.Curve.Params().Name, h.Size()*8)
	case *rsa.PublicKey:
		alg = fmt.Sprintf("RSA-PKCS1v15-%d-SHA-%d", k.N.BitLen(), h.Size()*8)
	default:
		return nil, "", fmt.Errorf("cosign: cannot sign with a %T key; use an ECDSA or RSA key", pub)
	}
	sig, err := signer.Sign(rand.Reader, digest, h)
	if err != nil {
		return nil, "", err
	}
	return sig, alg, nil
}

// noDuplicateKeys walks the JSON and refuses an object with a key twice,
// at any depth: encoding/json keeps the last, other parsers the first.
func noDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("nested deeper than %d", maxDepth)
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("key %q appears twice", key)
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	return walk(0)
}
