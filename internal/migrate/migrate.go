// Package migrate moves a Docker Content Trust repository's trust to the
// Notary Project (notation) and Sigstore (cosign): `trust-agent migrate`.
//
// # What
//
// For each REPO[:TAG] Run asks internal/trust's Verify for the digest DCT
// trusts (a tag that does not verify is refused, and nothing is signed for
// it), then, per format:
//
//   - notation: notation-go's notation.Sign over REPO@DIGEST with a signer
//     that is the notation plugin's own code (internal/notationplugin) run
//     in-process: it sends the JWS signing input to the agent (SignPayload,
//     format "notation") and returns the key's stored certificate chain
//     (`trust-agent key certify NAME` makes it). notation-go's registry
//     client (oras) pushes the signature as an OCI referrer where the
//     registry serves the referrers API and by the referrers tag schema
//     (sha256-HEX) otherwise. The signature is then verified back with
//     notation-go's verifier, a trust policy for the repository and a trust
//     store holding only the root of the key's chain.
//   - cosign: the simple-signing payload for REPO@DIGEST, signed by the agent
//     (SignPayload, format "cosign"), pushed as cosign pushes it: a layer of
//     media type application/vnd.dev.cosign.simplesigning.v1+json with the
//     annotation dev.cosignproject.cosign/signature (base64 signature),
//     appended to the image tagged sha256-HEX.sig; verified back with
//     sigstore's verifier for the key's public key.
//
// # Idempotence
//
// Before signing, the same verification runs: a digest that already
// verifies with that key (notation: a signature under the key's chain
// root; cosign: a layer whose signature verifies with the key and whose
// payload names the digest) is skipped, and the result says so.
//
// # Security
//
// The agent decides: it signs only payloads its format policies accept, with
// keys made for the format, and audits each. Migrate adds one rule of its
// own: it never signs a digest DCT does not vouch for.
//
// # Concurrency
//
// Run works through the references one at a time; it is safe to call from
// several goroutines with separate Options.
package migrate

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	notationgo "github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/cosign"
	"github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/internal/notationplugin"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/socket"
)

// Formats migrate signs for, in the order it signs them.
const (
	FormatNotation = "notation"
	FormatCosign   = "cosign"
)

// Cosign's names for its signature images, as cosign writes them.
const (
	CosignLayerMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	CosignAnnotation     = "dev.cosignproject.cosign/signature"
)

// maxSignatureAttempts caps the notation signatures one verification reads.
const maxSignatureAttempts = 50

// Result statuses.
const (
	StatusSigned  = "signed"
	StatusSkipped = "skipped" // already signed by the key
	StatusFailed  = "failed"
)

// Options configure Run.
type Options struct {
	// Trust says where DCT trust data lives (see trust.Options).
	Trust trust.Options
	// Socket is the agent's socket path (TRUST_AGENT_SOCK).
	Socket string
	// Key names the agent key (name or ID) for every format; NotationKey and
	// CosignKey, when set, override it for one format.
	Key, NotationKey, CosignKey string
	// Formats to sign for: FormatNotation, FormatCosign (default both).
	Formats []string
	// SignatureMediaType is notation's envelope: "application/jose+json"
	// (default) or "application/cose".
	SignatureMediaType string
	// Keychain gives registry credentials; default trust.Keychain or
	// docker's config.
	Keychain authn.Keychain
	// Progress, if set, gets one line per tag and format.
	Progress io.Writer
}

// Result is what happened to one tag in one format.
type Result struct {
	Ref       string `json:"ref"`
	Format    string `json:"format"`
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`    // the DCT-trusted manifest digest
	Signature string `json:"signature,omitempty"` // notation: the envelope media type; cosign: the .sig tag
	KeyID     string `json:"key_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ErrFailed is returned (wrapped) when any tag failed in any format.
var ErrFailed = errors.New("migrate: some tags were not migrated")

// Run migrates refs and returns a result per reference and format, in
// order; the error wraps ErrFailed when any failed.
func Run(ctx context.Context, o Options, refs ...string) ([]Result, error) {
	formats := o.Formats
	if len(formats) == 0 {
		formats = []string{FormatNotation, FormatCosign}
	}
	for _, f := range formats {
		if f != FormatNotation && f != FormatCosign {
			return nil, fmt.Errorf("migrate: unknown format %q; migrate signs for notation, cosign or all", f)
		}
	}
	if o.Socket == "" {
		return nil, errors.New("migrate: no agent: TRUST_AGENT_SOCK is not set; start one with eval \"$(trust-agent start ...)\"")
	}
	c, err := socket.Dial(o.Socket)
	if err != nil {
		return nil, fmt.Errorf("migrate: no agent at %s: %w; start one with eval \"$(trust-agent start ...)\"", o.Socket, err)
	}
	defer c.Close()
	keys, err := c.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: listing the agent's keys: %w", err)
	}
	m := &migrator{o: o, a: c, keychain: o.Keychain}
	if m.keychain == nil {
		m.keychain = o.Trust.Keychain
	}
	if m.keychain == nil {
		m.keychain = authn.DefaultKeychain
	}
	m.keys = map[string]agent.KeyInfo{}
	for _, f := range formats {
		k, err := findKey(keys, f, o.keyFor(f))
		if err != nil {
			return nil, err
		}
		if f == FormatNotation && len(k.Chain) == 0 {
			return nil, fmt.Errorf("migrate: notation key %s has no certificate chain; make one with `trust-agent key certify %s` (or store a CA's with --chain FILE)", k.Name, unambiguous(keys, k))
		}
		m.keys[f] = k
	}
	var out []Result
	failed := 0
	for _, ref := range refs {
		v, verr := trust.Verify(ctx, trust.VerifyOptions{Options: o.Trust, Ref: ref})
		for _, f := range formats {
			r := Result{Ref: ref, Format: f, KeyID: m.keys[f].ID}
			if verr != nil {
				r.Status, r.Error = StatusFailed, "not trusted by DCT, nothing signed: "+verr.Error()
			} else {
				r.Digest = v.Digest
				var err error
				switch f {
				case FormatNotation:
					err = m.notation(ctx, v, &r)
				case FormatCosign:
					err = m.cosign(ctx, v, &r)
				}
				if err != nil {
					r.Status, r.Error = StatusFailed, err.Error()
				}
			}
			if r.Status == StatusFailed {
				failed++
			}
			m.progress(r)
			out = append(out, r)
		}
	}
	if failed > 0 {
		return out, fmt.Errorf("%w: %d of %d failed (see the table); fix the cause and run migrate again: what is already signed is skipped", ErrFailed, failed, len(out))
	}
	return out, nil
}

func (o Options) keyFor(format string) string {
	switch {
	case format == FormatNotation && o.NotationKey != "":
		return o.NotationKey
	case format == FormatCosign && o.CosignKey != "":
		return o.CosignKey
	}
	return o.Key
}

// findKey picks the key named (or with ID) ref whose role is format's.
func findKey(keys []agent.KeyInfo, format, ref string) (agent.KeyInfo, error) {
	if ref == "" {
		return agent.KeyInfo{}, fmt.Errorf("migrate: no key given for %s; pass --key NAME (make one with trust-agent key generate NAME --role %s)", format, format)
	}
	var match, other []agent.KeyInfo
	for _, k := range keys {
		if k.Name != ref && k.ID != ref && (len(ref) < 7 || !strings.HasPrefix(k.ID, ref)) {
			continue
		}
		list := &other
		if string(k.Role) == format {
			list = &match
		}
		if len(*list) == 0 || (*list)[0].ID != k.ID {
			*list = append(*list, k)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return agent.KeyInfo{}, fmt.Errorf("migrate: %d %s keys match %q; give the key's ID (trust-agent key list)", len(match), format, ref)
	case len(other) > 0:
		return agent.KeyInfo{}, fmt.Errorf("migrate: key %q is a %s key, not a %s key; make one with trust-agent key generate NAME --role %s (and pass it with --%s-key)", ref, other[0].Role, format, format, format)
	}
	return agent.KeyInfo{}, fmt.Errorf("migrate: the agent holds no %s key %q; see trust-agent key list, or make one with trust-agent key generate %s --role %s", format, ref, ref, format)
}

// unambiguous returns k's name when no other key has it, else its ID: what
// a command taking NAME|ID can be given.
func unambiguous(keys []agent.KeyInfo, k agent.KeyInfo) string {
	for _, o := range keys {
		if o.Name == k.Name && o.ID != k.ID {
			return k.ID
		}
	}
	return k.Name
}

type migrator struct {
	o        Options
	a        agent.Agent
	keys     map[string]agent.KeyInfo
	keychain authn.Keychain
}

func (m *migrator) progress(r Result) {
	if m.o.Progress == nil {
		return
	}
	switch r.Status {
	case StatusSigned:
		fmt.Fprintf(m.o.Progress, "%s: %s: signed %s, pushed %s, verified\n", r.Ref, r.Format, r.Digest, r.Signature)
	case StatusSkipped:
		fmt.Fprintf(m.o.Progress, "%s: %s: skipped: %s is already signed by key %s\n", r.Ref, r.Format, r.Digest, short(r.KeyID))
	default:
		fmt.Fprintf(m.o.Progress, "%s: %s: failed: %s\n", r.Ref, r.Format, r.Error)
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// repo parses the verified repository with go-containerregistry's rules
// (docker.io names map to index.docker.io; loopback registries are HTTP).
func repo(v *trust.Verified) (name.Repository, error) {
	r, err := name.NewRepository(v.GUN)
	if err != nil {
		return name.Repository{}, fmt.Errorf("migrate: %s is not a repository name: %w", v.GUN, err)
	}
	return r, nil
}

// --- notation ---

func (m *migrator) notationRepo(r name.Repository) (notationreg.Repository, error) {
	or, err := orasremote.NewRepository(r.RegistryStr() + "/" + r.RepositoryStr())
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", r, err)
	}
	or.PlainHTTP = r.Scheme() == "http"
	kc := m.keychain
	or.Client = &orasauth.Client{
		Cache: orasauth.NewCache(),
		Credential: func(ctx context.Context, hostport string) (orasauth.Credential, error) {
			reg, err := name.NewRegistry(hostport)
			if err != nil {
				return orasauth.EmptyCredential, nil
			}
			a, err := kc.Resolve(reg)
			if err != nil {
				return orasauth.EmptyCredential, err
			}
			cfg, err := a.Authorization()
			if err != nil {
				return orasauth.EmptyCredential, err
			}
			return orasauth.Credential{Username: cfg.Username, Password: cfg.Password, RefreshToken: cfg.IdentityToken, AccessToken: cfg.RegistryToken}, nil
		},
	}
	return notationreg.NewRepository(or), nil
}

func (m *migrator) notation(ctx context.Context, v *trust.Verified, res *Result) error {
	k := m.keys[FormatNotation]
	r, err := repo(v)
	if err != nil {
		return err
	}
	nr, err := m.notationRepo(r)
	if err != nil {
		return err
	}
	ref := r.RegistryStr() + "/" + r.RepositoryStr() + "@" + v.Digest
	if err := verifyNotation(ctx, nr, ref, r, k); err == nil {
		res.Status = StatusSkipped
		return nil
	}
	s, err := signer.NewPluginSigner(&notationplugin.Plugin{}, k.ID, map[string]string{"socket": m.o.Socket})
	if err != nil {
		return fmt.Errorf("migrate: notation signer: %w", err)
	}
	mt := m.o.SignatureMediaType
	if mt == "" {
		mt = "application/jose+json"
	}
	_, err = notationgo.Sign(ctx, s, nr, notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: mt, SigningAgent: "trust-agent migrate"},
		ArtifactReference: ref,
		UserMetadata:      map[string]string{notation.RepositoryAnnotation: v.GUN},
	})
	if err != nil {
		return fmt.Errorf("migrate: notation sign %s: %w", ref, err)
	}
	if err := verifyNotation(ctx, nr, ref, r, k); err != nil {
		return fmt.Errorf("migrate: the notation signature just pushed for %s does not verify: %w", ref, err)
	}
	res.Status, res.Signature = StatusSigned, mt
	return nil
}

// verifyNotation verifies ref with notation-go's verifier, trusting only the
// root of k's chain for r.
func verifyNotation(ctx context.Context, nr notationreg.Repository, ref string, r name.Repository, k agent.KeyInfo) error {
	root, err := x509.ParseCertificate(k.Chain[len(k.Chain)-1])
	if err != nil {
		return fmt.Errorf("migrate: key %s's chain does not parse: %w", k.Name, err)
	}
	scope := r.RegistryStr() + "/" + r.RepositoryStr()
	policy := &trustpolicy.Document{
		Version: "1.0",
		TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:           "trust-agent-migrate",
			RegistryScopes: []string{scope},
			SignatureVerification: trustpolicy.SignatureVerification{
				VerificationLevel: trustpolicy.LevelStrict.Name,
				// A self-signed or private CA chain names no OCSP or CRL.
				Override: map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: trustpolicy.ActionLog},
			},
			TrustStores:       []string{"ca:trust-agent"},
			TrustedIdentities: []string{"*"},
		}},
	}
	ver, err := verifier.New(policy, rootStore{root}, nil)
	if err != nil {
		return fmt.Errorf("migrate: notation verifier: %w", err)
	}
	_, outcomes, err := notationgo.Verify(ctx, ver, nr, notationgo.VerifyOptions{ArtifactReference: ref, MaxSignatureAttempts: maxSignatureAttempts})
	if err != nil {
		return err
	}
	for _, o := range outcomes {
		if o.Error == nil && o.EnvelopeContent != nil {
			return nil
		}
	}
	return errors.New("no signature verified")
}

// rootStore is a trust store holding one CA certificate.
type rootStore struct{ root *x509.Certificate }

func (s rootStore) GetCertificates(_ context.Context, t truststore.Type, named string) ([]*x509.Certificate, error) {
	if t == truststore.TypeCA && named == "trust-agent" {
		return []*x509.Certificate{s.root}, nil
	}
	return nil, fmt.Errorf("migrate: no trust store %s:%s", t, named)
}

// --- cosign ---

// simpleSigning is cosign's payload for a container image.
func simpleSigning(reference, digest string) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": reference},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     cosign.SignatureType,
		},
		"optional": nil,
	})
	return b
}

func (m *migrator) cosign(ctx context.Context, v *trust.Verified, res *Result) error {
	k := m.keys[FormatCosign]
	r, err := repo(v)
	if err != nil {
		return err
	}
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return fmt.Errorf("migrate: key %s's public key does not parse: %w", k.Name, err)
	}
	ver, err := sigsig.LoadVerifier(pub, cosign.Hash(pub))
	if err != nil {
		return fmt.Errorf("migrate: sigstore verifier for key %s: %w", k.Name, err)
	}
	hex := strings.TrimPrefix(v.Digest, "sha256:")
	tag := r.Tag("sha256-" + hex + ".sig")
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(m.keychain)}
	res.Signature = tag.String()
	base, err := remote.Image(tag, opts...)
	switch {
	case err == nil:
		ok, err := cosignSigned(base, ver, v.Digest)
		if err != nil {
			return err
		}
		if ok {
			res.Status = StatusSkipped
			return nil
		}
	case isNotFound(err):
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	default:
		return fmt.Errorf("migrate: reading %s: %w", tag, err)
	}
	payload := simpleSigning(r.Name(), v.Digest)
	sig, err := m.a.SignPayload(ctx, agent.PayloadRequest{KeyID: k.ID, Format: cosign.Name, Payload: payload})
	if err != nil {
		return fmt.Errorf("migrate: the agent did not sign the cosign payload for %s@%s: %w", r.Name(), v.Digest, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, CosignLayerMediaType),
		Annotations: map[string]string{CosignAnnotation: base64.StdEncoding.EncodeToString(sig.Signature)},
	})
	if err != nil {
		return fmt.Errorf("migrate: cosign signature image: %w", err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return fmt.Errorf("migrate: pushing %s: %w", tag, err)
	}
	back, err := remote.Image(tag, opts...)
	if err != nil {
		return fmt.Errorf("migrate: reading back %s: %w", tag, err)
	}
	ok, err := cosignSigned(back, ver, v.Digest)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("migrate: the cosign signature just pushed to %s does not verify", tag)
	}
	res.Status = StatusSigned
	return nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == 404)
}

// maxCosignPayload caps a simple-signing layer read back (the policy's own
// cap is 64 KiB).
const maxCosignPayload = 64 << 10

// cosignSigned reports whether a layer of img is a simple-signing payload
// for digest whose signature verifies with ver.
func cosignSigned(img v1.Image, ver sigsig.Verifier, digest string) (bool, error) {
	mf, err := img.Manifest()
	if err != nil {
		return false, fmt.Errorf("migrate: reading the cosign signature manifest: %w", err)
	}
	for _, l := range mf.Layers {
		b64, ok := l.Annotations[CosignAnnotation]
		if !ok || string(l.MediaType) != CosignLayerMediaType || l.Size > maxCosignPayload {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return false, fmt.Errorf("migrate: reading a cosign signature layer: %w", err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return false, fmt.Errorf("migrate: reading a cosign signature layer: %w", err)
		}
		payload, err := io.ReadAll(io.LimitReader(rc, maxCosignPayload+1))
		rc.Close()
		if err != nil {
			return false, fmt.Errorf("migrate: reading a cosign signature layer: %w", err)
		}
		p, err := cosign.Parse(payload)
		if err != nil || p.Digest != digest {
			continue
		}
		if ver.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil {
			return true, nil
		}
	}
	return false, nil
}
