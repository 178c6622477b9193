// Package notation is trust-agent's payload policy for the Notary Project
// (notation): what a notation key signs, and how.
//
// # What
//
// A notation plugin with the SIGNATURE_GENERATOR.RAW capability gets the
// bytes the envelope signs and returns a raw signature. Those bytes are
// either a JWS signing input, BASE64URL(protected) "." BASE64URL(payload),
// or a COSE Sig_structure, the CBOR array ["Signature1", protected,
// external_aad, payload]. Policy (registered as format "notation") accepts
// only those two shapes, and only when:
//
//   - the payload is a Notary payload (media type
//     application/vnd.cncf.notary.payload.v1+json): a JSON object whose only
//     member is targetArtifact, naming one artifact with a mediaType, a
//     digest (algorithm:hex) and a size;
//   - the protected header's content type (JWS cty, COSE label 3) is that
//     media type, its signing scheme is notary.x509 or
//     notary.x509.signingAuthority, its signing time is within
//     MaxClockSkew of the agent's clock, and its expiry, when present, is
//     after the signing time;
//   - its algorithm is the one the key's spec dictates (EC-256 ES256, EC-384
//     ES384, EC-521 ES512, RSA-2048 PS256, RSA-3072 PS384, RSA-4096 PS512);
//   - for a key bound to a repository (KeyMeta.GUN), the artifact's
//     annotation RepositoryAnnotation names that repository. A Notary
//     payload does not otherwise say which repository an artifact is in:
//     `notation sign --user-metadata io.trust-agent.repository=REPO` puts
//     it there, and `notation verify --user-metadata` can require it.
//
// The audit line shows the artifact digest, its media type, the envelope
// format (jws or cose) and, when annotated, the repository.
//
// # Signatures
//
// Sign hashes with the key spec's hash (SHA-256 for EC-256 and RSA-2048,
// SHA-384 for EC-384 and RSA-3072, SHA-512 for EC-521 and RSA-4096); ECDSA
// signatures are raw r||s at the curve's width, RSA signatures PSS with a
// salt as long as the hash, as the Notary Project's signature
// specification requires.
//
// # Concurrency
//
// Policy has no state; it is safe for concurrent use.
package notation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/trust-agent/trust-agent/agent"
)

// Format is the name this package registers with agent.RegisterFormat.
const Format = "notation"

// MediaTypePayload is the Notary payload's media type.
const MediaTypePayload = "application/vnd.cncf.notary.payload.v1+json"

// RepositoryAnnotation is the target artifact annotation a key bound to a
// repository requires: its value must be the key's repository.
const RepositoryAnnotation = "io.trust-agent.repository"

// MaxClockSkew is how far a signing time may be from the agent's clock.
// notation stamps the time just before it calls the plugin; a larger gap
// means a clock that is wrong or a payload made for later.
const MaxClockSkew = 10 * time.Minute

// Limits on what Check reads: a Notary payload is a few hundred bytes; the
// agent's request cap bounds the whole.
const (
	maxPayloadBytes    = 64 << 10 // a Notary payload, decoded
	maxHeaderBytes     = 16 << 10 // a protected header, decoded
	maxAnnotations     = 64       // annotations on the target artifact
	maxFactBytes       = 255      // a value shown in the audit line
	maxMediaTypeLength = 255
)

func init() { agent.RegisterFormat(Format, Policy{}) }

// Policy is the notation PayloadPolicy.
type Policy struct{}

var _ agent.PayloadPolicy = Policy{}

// Roles is agent.RoleNotation alone.
func (Policy) Roles() []agent.Role { return []agent.Role{agent.RoleNotation} }

// KeySpec is a key's spec in the plugin contract's words, with the hash,
// JWS and COSE algorithms and the plugin's signing algorithm it implies.
type KeySpec struct {
	Name      string // "EC-256", "RSA-3072", ...
	Hash      crypto.Hash
	JWS       string // "ES256", "PS384", ...
	COSE      int64  // -7, -38, ...
	Algorithm string // "ECDSA-SHA-256", "RSASSA-PSS-SHA-384", ...
	ecSize    int    // bytes of r and of s; 0 for RSA
}

var keySpecs = []KeySpec{
	{"EC-256", crypto.SHA256, "ES256", -7, "ECDSA-SHA-256", 32},
	{"EC-384", crypto.SHA384, "ES384", -35, "ECDSA-SHA-384", 48},
	{"EC-521", crypto.SHA512, "ES512", -36, "ECDSA-SHA-512", 66},
	{"RSA-2048", crypto.SHA256, "PS256", -37, "RSASSA-PSS-SHA-256", 0},
	{"RSA-3072", crypto.SHA384, "PS384", -38, "RSASSA-PSS-SHA-384", 0},
	{"RSA-4096", crypto.SHA512, "PS512", -39, "RSASSA-PSS-SHA-512", 0},
}

// SpecOf returns the key spec of a public key, or an error for a key
// notation cannot use.
func SpecOf(pub crypto.PublicKey) (KeySpec, error) {
	name := ""
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			name = "EC-256"
		case elliptic.P384():
			name = "EC-384"
		case elliptic.P521():
			name = "EC-521"
		}
	case *rsa.PublicKey:
		name = fmt.Sprintf("RSA-%d", k.N.BitLen())
	}
	for _, s := range keySpecs {
		if s.Name == name {
			return s, nil
		}
	}
	return KeySpec{}, fmt.Errorf("notation: a %T key (%s) has no notation key spec; notation signs with EC-256, EC-384, EC-521, RSA-2048, RSA-3072 or RSA-4096 keys", pub, name)
}

// SpecOfDER is SpecOf for a PKIX DER public key, as agent.KeyInfo has it.
func SpecOfDER(der []byte) (KeySpec, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return KeySpec{}, fmt.Errorf("notation: the key's public key does not parse: %w", err)
	}
	return SpecOf(pub)
}

// header is what Check takes from a protected header, JWS or COSE.
type header struct {
	alg         string // the JWS name; COSE numbers are mapped to it
	contentType string
	scheme      string
	signingTime time.Time
	expiry      *time.Time
}

// Check accepts a JWS signing input or a COSE Sig_structure over a Notary
// payload, as the package doc says. Decision.Facts: envelope, digest,
// media_type, repository.
func (Policy) Check(req agent.PolicyRequest) (agent.Decision, error) {
	facts, err := check(req.Key, req.Payload, req.Now)
	return agent.Decision{Facts: facts}, err
}

func check(key agent.KeyInfo, payload []byte, now time.Time) (map[string]string, error) {
	spec, err := SpecOfDER(key.PublicKey)
	if err != nil {
		return nil, err
	}
	var (
		h        header
		body     []byte
		envelope string
	)
	if len(payload) > 0 && payload[0] >= 0x80 { // a CBOR array; JWS is base64url text
		envelope = "cose"
		h, body, err = parseCOSE(payload)
	} else {
		envelope = "jws"
		h, body, err = parseJWS(payload)
	}
	if err != nil {
		return nil, err
	}
	facts := map[string]string{"envelope": envelope}
	art, err := parsePayload(body)
	if err != nil {
		return facts, err
	}
	facts["digest"] = art.Digest
	facts["media_type"] = art.MediaType
	if r, ok := art.Annotations[RepositoryAnnotation]; ok {
		facts["repository"] = clip(r)
	}
	if err := checkHeader(h, spec, now); err != nil {
		return facts, err
	}
	if key.GUN != "" {
		r, ok := art.Annotations[RepositoryAnnotation]
		if !ok {
			return facts, fmt.Errorf("notation: key %s is bound to %s, and the payload does not say the artifact is there; sign with `notation sign --user-metadata %s=%s`", key.Name, key.GUN, RepositoryAnnotation, key.GUN)
		}
		if r != key.GUN {
			return facts, fmt.Errorf("notation: key %s is bound to %s, not to %s (annotation %s); sign %s's artifacts with a key made for it (key generate NAME --role notation --repo %s)", key.Name, key.GUN, clip(r), RepositoryAnnotation, clip(r), clip(r))
		}
	}
	return facts, nil
}

func clip(s string) string {
	if len(s) > maxFactBytes {
		return s[:maxFactBytes] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func checkHeader(h header, spec KeySpec, now time.Time) error {
	if h.alg != spec.JWS {
		return fmt.Errorf("notation: the header's algorithm is %q, and a %s key signs %s; pass notation the key's spec as describe-key gives it", clip(h.alg), spec.Name, spec.JWS)
	}
	if h.contentType != MediaTypePayload {
		return fmt.Errorf("notation: the header's content type is %q, not %s: the agent signs only Notary payloads", clip(h.contentType), MediaTypePayload)
	}
	if h.scheme != "notary.x509" && h.scheme != "notary.x509.signingAuthority" {
		return fmt.Errorf("notation: signing scheme %q; the agent signs notary.x509 and notary.x509.signingAuthority envelopes", clip(h.scheme))
	}
	if h.signingTime.IsZero() {
		return errors.New("notation: the header has no signing time; the agent signs only envelopes that say when they were signed")
	}
	if d := h.signingTime.Sub(now); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("notation: the signing time %s is more than %s from the agent's clock (%s); check the clocks of this machine and the signer's", h.signingTime.UTC().Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	if h.expiry != nil && !h.expiry.After(h.signingTime) {
		return fmt.Errorf("notation: the expiry %s is not after the signing time %s", h.expiry.UTC().Format(time.RFC3339), h.signingTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseJWS reads BASE64URL(protected) "." BASE64URL(payload).
func parseJWS(in []byte) (header, []byte, error) {
	parts := bytes.Split(in, []byte("."))
	if len(parts) != 2 {
		return header{}, nil, errors.New("notation: the payload is neither a JWS signing input (BASE64URL(header).BASE64URL(payload)) nor a COSE Sig_structure; the agent signs only Notary payloads in those envelopes")
	}
	if base64.RawURLEncoding.DecodedLen(len(parts[0])) > maxHeaderBytes || base64.RawURLEncoding.DecodedLen(len(parts[1])) > maxPayloadBytes {
		return header{}, nil, fmt.Errorf("notation: the JWS header or payload is larger than the agent reads (%d and %d bytes)", maxHeaderBytes, maxPayloadBytes)
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(string(parts[0]))
	if err != nil {
		return header{}, nil, fmt.Errorf("notation: the JWS protected header is not base64url: %w", err)
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(string(parts[1]))
	if err != nil {
		return header{}, nil, fmt.Errorf("notation: the JWS payload is not base64url: %w", err)
	}
	var raw struct {
		Alg         string          `json:"alg"`
		Cty         string          `json:"cty"`
		Crit        []string        `json:"crit"`
		Scheme      string          `json:"io.cncf.notary.signingScheme"`
		SigningTime *time.Time      `json:"io.cncf.notary.signingTime"`
		Authentic   *time.Time      `json:"io.cncf.notary.authenticSigningTime"`
		Expiry      *time.Time      `json:"io.cncf.notary.expiry"`
		B64         json.RawMessage `json:"b64"`
	}
	if err := json.Unmarshal(hb, &raw); err != nil {
		return header{}, nil, fmt.Errorf("notation: the JWS protected header is not the JSON notation writes: %w", err)
	}
	if raw.B64 != nil {
		return header{}, nil, errors.New("notation: the JWS header sets b64; Notary envelopes carry a base64url payload")
	}
	h := header{alg: raw.Alg, contentType: raw.Cty, scheme: raw.Scheme, expiry: raw.Expiry}
	switch {
	case raw.SigningTime != nil && raw.Authentic != nil:
		return header{}, nil, errors.New("notation: the JWS header has two signing times")
	case raw.SigningTime != nil:
		h.signingTime = *raw.SigningTime
	case raw.Authentic != nil:
		h.signingTime = *raw.Authentic
	}
	return h, body, nil
}

var coseDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8,
		MaxArrayElements: 1024,
		MaxMapPairs:      256,
		IndefLength:      cbor.IndefLengthForbidden,
		TimeTag:          cbor.DecTagRequired,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// sigStructure is COSE's Sig_structure for COSE_Sign1 (RFC 9052 4.4).
type sigStructure struct {
	_           struct{} `cbor:",toarray"`
	Context     string
	Protected   []byte
	ExternalAAD []byte
	Payload     []byte
}

// COSE header labels.
const (
	coseAlg         = 1
	coseContentType = 3
)

var coseAlgs = map[int64]string{-7: "ES256", -35: "ES384", -36: "ES512", -37: "PS256", -38: "PS384", -39: "PS512"}

func parseCOSE(in []byte) (header, []byte, error) {
	var s sigStructure
	if err := coseDec.Unmarshal(in, &s); err != nil {
		return header{}, nil, fmt.Errorf("notation: the payload is not a COSE Sig_structure: %w", err)
	}
	if s.Context != "Signature1" {
		return header{}, nil, fmt.Errorf("notation: the COSE Sig_structure is for %q, not Signature1 (COSE_Sign1, as notation signs)", clip(s.Context))
	}
	if len(s.ExternalAAD) != 0 {
		return header{}, nil, errors.New("notation: the COSE Sig_structure has external data; notation's has none")
	}
	if len(s.Protected) > maxHeaderBytes || len(s.Payload) > maxPayloadBytes {
		return header{}, nil, fmt.Errorf("notation: the COSE header or payload is larger than the agent reads (%d and %d bytes)", maxHeaderBytes, maxPayloadBytes)
	}
	var m map[any]cbor.RawMessage
	if err := coseDec.Unmarshal(s.Protected, &m); err != nil {
		return header{}, nil, fmt.Errorf("notation: the COSE protected header is not a CBOR map: %w", err)
	}
	var h header
	for k, v := range m {
		var err error
		switch label := k.(type) {
		case uint64, int64:
			switch fmt.Sprint(label) {
			case fmt.Sprint(coseAlg):
				var a int64
				if err = coseDec.Unmarshal(v, &a); err == nil {
					if name, ok := coseAlgs[a]; ok {
						h.alg = name
					} else {
						h.alg = fmt.Sprintf("COSE algorithm %d", a)
					}
				}
			case fmt.Sprint(coseContentType):
				err = coseDec.Unmarshal(v, &h.contentType)
			}
		case string:
			switch label {
			case "io.cncf.notary.signingScheme":
				err = coseDec.Unmarshal(v, &h.scheme)
			case "io.cncf.notary.signingTime", "io.cncf.notary.authenticSigningTime":
				if !h.signingTime.IsZero() {
					return header{}, nil, errors.New("notation: the COSE header has two signing times")
				}
				h.signingTime, err = coseTime(v)
			case "io.cncf.notary.expiry":
				var t time.Time
				if t, err = coseTime(v); err == nil {
					h.expiry = &t
				}
			}
		}
		if err != nil {
			return header{}, nil, fmt.Errorf("notation: COSE header %v: %w", k, err)
		}
	}
	return h, s.Payload, nil
}

// coseTime reads a tag-1 date time, as notation writes them.
func coseTime(v cbor.RawMessage) (time.Time, error) {
	var tag cbor.RawTag
	if err := coseDec.Unmarshal(v, &tag); err != nil || tag.Number != 1 {
		return time.Time{}, errors.New("not a tag-1 date time")
	}
	var t time.Time
	if err := coseDec.Unmarshal(v, &t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// Artifact is a Notary payload's target artifact.
type Artifact struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	URLs        []string          `json:"urls,omitempty"`
}

// The patterns are compiled on first use, not at init: mediaTypePattern's
// two {0,126} repetitions make a large program (2.5-3.7 ms and 4,449
// allocations), which every start of every binary linking this package
// paid, the trust-agent CLI's included (docs/PERFORMANCE.md).
var (
	digestPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$`)
	})
	mediaTypePattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)
	})
)

// parsePayload reads a Notary payload: exactly {"targetArtifact":{...}}.
func parsePayload(b []byte) (Artifact, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p struct {
		TargetArtifact *Artifact `json:"targetArtifact"`
	}
	if err := dec.Decode(&p); err != nil {
		return Artifact{}, fmt.Errorf("notation: the signed payload is not a Notary payload (%s, one targetArtifact and nothing else): %w", MediaTypePayload, err)
	}
	if dec.More() {
		return Artifact{}, errors.New("notation: the signed payload has data after its JSON object")
	}
	a := p.TargetArtifact
	if a == nil {
		return Artifact{}, errors.New("notation: the Notary payload names no targetArtifact")
	}
	if !digestPattern().MatchString(a.Digest) {
		return Artifact{}, fmt.Errorf("notation: the target artifact's digest %q is not sha256/sha384/sha512 hex", clip(a.Digest))
	}
	if len(a.MediaType) > maxMediaTypeLength || !mediaTypePattern().MatchString(a.MediaType) {
		return Artifact{}, fmt.Errorf("notation: the target artifact's media type %q is not a media type", clip(a.MediaType))
	}
	if a.Size <= 0 {
		return Artifact{}, fmt.Errorf("notation: the target artifact's size %d is not positive", a.Size)
	}
	if len(a.Annotations) > maxAnnotations {
		return Artifact{}, fmt.Errorf("notation: the target artifact has %d annotations; the agent reads at most %d", len(a.Annotations), maxAnnotations)
	}
	return *a, nil
}

// Sign hashes payload by the key's spec and signs it: ECDSA as raw r||s,
// RSA as PSS with a salt as long as the hash.
func (Policy) Sign(signer crypto.Signer, payload []byte) ([]byte, string, error) {
	spec, err := SpecOf(signer.Public())
	if err != nil {
		return nil, "", err
	}
	h := spec.Hash.New()
	h.Write(payload)
	digest := h.Sum(nil)
	if spec.ecSize == 0 {
		sig, err := signer.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: spec.Hash})
		if err != nil {
			return nil, "", err
		}
		return sig, spec.Algorithm, nil
	}
	der, err := signer.Sign(rand.Reader, digest, spec.Hash)
	if err != nil {
		return nil, "", err
	}
	raw, err := rawECDSA(der, spec.ecSize)
	if err != nil {
		return nil, "", err
	}
	return raw, spec.Algorithm, nil
}

// rawECDSA turns an ASN.1 DER ECDSA signature into r||s, each size bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, errors.New("notation: the key returned an ECDSA signature that is not DER")
	}
	if sig.R.BitLen() > 8*size || sig.S.BitLen() > 8*size {
		return nil, errors.New("notation: the key returned an ECDSA signature too long for its curve")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}
