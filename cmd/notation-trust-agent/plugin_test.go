package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	nplugin "github.com/notaryproject/notation-go/plugin"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/internal/notationplugin"
	"github.com/trust-agent/trust-agent/internal/syncbuf"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

type fixture struct {
	sock       string
	pluginsDir string
	binary     string
	audit      *syncbuf.Buffer
	keyring    *agent.Keyring
}

// start serves an agent on a SoftHSM token through a real socket and
// builds the plugin into a notation plugin directory.
func start(t *testing.T) *fixture {
	t.Helper()
	tok := softhsmtest.New(t, "97531")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{audit: &syncbuf.Buffer{}}
	// Storing a CA's chain needs a person's yes: this askpass says yes.
	yes := filepath.Join(t.TempDir(), "yes")
	if err := os.WriteFile(yes, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.keyring = agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: agent.AuditTo(f.audit), Askpass: yes})
	t.Cleanup(func() { f.keyring.Close() })
	f.sock = filepath.Join(t.TempDir(), "agent", "sock")
	l, err := socket.Listen(f.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, f.keyring, socket.ServeOptions{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.pluginsDir = filepath.Join(t.TempDir(), "plugins")
	f.binary = filepath.Join(f.pluginsDir, notationplugin.Name, "notation-"+notationplugin.Name)
	build := exec.Command("go", "build", "-o", f.binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	return f
}

// key makes a notation key and its self-signed certificate.
func (f *fixture) key(t *testing.T, name, alg string, bits int) (agent.KeyInfo, [][]byte) {
	t.Helper()
	k := f.bareKey(t, name, alg, bits)
	chain, err := f.keyring.CertifyKey(context.Background(), agent.CertifyKeyRequest{KeyID: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	return k, chain
}

// bareKey generates a notation key with no certificate yet (a CA's chain
// stored over a self-signed one would need a person's yes).
func (f *fixture) bareKey(t *testing.T, name, alg string, bits int) agent.KeyInfo {
	t.Helper()
	k, err := f.keyring.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: name}, Algorithm: alg, Bits: bits})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// caChain issues key a code-signing certificate from a software CA,
// stores the chain through the agent, and returns it: leaf, CA.
func (f *fixture) caChain(t *testing.T, key agent.KeyInfo) [][]byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA", Organization: []string{"example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pub, err := x509.ParsePKIXPublicKey(key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: key.Name, Organization: []string{"example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// a chain whose leaf is another key's is refused
	if _, err := f.keyring.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: key.ID, Chain: [][]byte{caDER}}); err == nil {
		t.Fatal("stored a chain whose leaf is not the key's")
	}
	chain, err := f.keyring.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: key.ID, Chain: [][]byte{leafDER, caDER}})
	if err != nil {
		t.Fatal(err)
	}
	// what the agent hands out from now on is read back from the token
	keys, err := f.keyring.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == key.ID && (len(k.Chain) != 2 || !bytes.Equal(k.Chain[1], caDER)) {
			t.Fatalf("the token gives back a chain of %d certificates", len(k.Chain))
		}
	}
	return chain
}

// verify checks blob with notation-go's verifier, the chain's root in a
// trust store and a strict trust policy.
func verify(t *testing.T, blob []byte, mediaType string, desc ocispec.Descriptor, root []byte) {
	t.Helper()
	ts := t.TempDir()
	caDir := filepath.Join(ts, "truststore", "x509", "ca", "trust-agent")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caDir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root}), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "test", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
		TrustStores:           []string{"ca:trust-agent"}, TrustedIdentities: []string{"*"},
	}}}
	v, err := verifier.New(policy, truststore.NewX509TrustStore(dir.NewSysFS(ts)), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.Verify(context.Background(), desc, blob, notationgo.VerifierVerifyOptions{
		ArtifactReference: "registry.example/app@" + desc.Digest.String(), SignatureMediaType: mediaType,
	})
	if err != nil {
		t.Fatalf("notation-go's verifier: %v", err)
	}
	if out.Error != nil {
		t.Fatalf("verification outcome: %v", out.Error)
	}
}

var desc = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromString("a manifest"),
	Size:      10,
}

// TestPluginManagerSigns has notation-go's own plugin manager run the built
// plugin, sign JWS and COSE envelopes with keys on SoftHSM through the
// agent, and verifies them with notation-go's verifier.
func TestPluginManagerSigns(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	mgr := nplugin.NewCLIManager(dir.NewSysFS(f.pluginsDir))
	pl, err := mgr.Get(ctx, notationplugin.Name)
	if err != nil {
		t.Fatalf("notation-go's plugin manager: %v", err)
	}
	for _, k := range []struct {
		name, alg string
		bits      int
		ca        bool // a chain issued by a CA, not a self-signed certificate
	}{{"ec256", agent.AlgorithmECDSA, 0, false}, {"rsa3072", agent.AlgorithmRSA, 3072, false}, {"ca-issued", agent.AlgorithmECDSA, 0, true}} {
		var key agent.KeyInfo
		var chain [][]byte
		if k.ca {
			key = f.bareKey(t, k.name, k.alg, k.bits)
			chain = f.caChain(t, key)
		} else {
			key, chain = f.key(t, k.name, k.alg, k.bits)
		}
		root := chain[len(chain)-1]
		for _, mt := range []string{jws.MediaTypeEnvelope, cose.MediaTypeEnvelope} {
			t.Run(k.name+"/"+mt, func(t *testing.T) {
				before := len(f.audit.Lines())
				s, err := signer.NewPluginSigner(pl, k.name, map[string]string{"socket": f.sock})
				if err != nil {
					t.Fatal(err)
				}
				blob, info, err := s.Sign(ctx, desc, notationgo.SignerSignOptions{SignatureMediaType: mt, ExpiryDuration: time.Hour})
				if err != nil {
					t.Fatalf("signing through the plugin: %v", err)
				}
				if len(info.CertificateChain) != len(chain) || !bytes.Equal(info.CertificateChain[0].Raw, chain[0]) || !bytes.Equal(info.CertificateChain[len(chain)-1].Raw, root) {
					t.Fatal("the envelope does not carry the key's chain")
				}
				verify(t, blob, mt, desc, root)
				lines := f.audit.Lines()[before:]
				if len(lines) != 1 {
					t.Fatalf("%d audit lines, want 1: %q", len(lines), lines)
				}
				var ev struct {
					Op     string
					Result string
					KeyID  string `json:"key_id"`
					Facts  map[string]string
				}
				if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
					t.Fatal(err)
				}
				wantEnv := map[string]string{jws.MediaTypeEnvelope: "jws", cose.MediaTypeEnvelope: "cose"}[mt]
				if ev.KeyID != key.ID || ev.Facts["digest"] != desc.Digest.String() || ev.Facts["media_type"] != desc.MediaType || ev.Facts["envelope"] != wantEnv {
					t.Fatalf("audit line %s", lines[0])
				}
			})
		}
	}
}

// run executes the plugin as notation does, returning stdout, stderr and
// the exit status.
func (f *fixture) run(t *testing.T, env []string, command string, req any) (string, string, int) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.binary, command)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = bytes.NewReader(body)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestPluginRefuses: bad input gives exit 1, one error JSON on stderr with
// a clear message, nothing on stdout, and (where the agent was reached) one
// audit line.
func TestPluginRefuses(t *testing.T) {
	f := start(t)
	f.key(t, "good", agent.AlgorithmECDSA, 0)
	if _, err := f.keyring.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}}); err != nil {
		t.Fatal(err)
	}
	sockEnv := []string{"TRUST_AGENT_SOCK=" + f.sock}
	junk := map[string]any{"contractVersion": "1.0", "keyId": "good", "keySpec": "EC-256", "hashAlgorithm": "SHA-256", "payload": []byte("eyJhbGciOiJFUzI1NiJ9.bm90IGEgbm90YXJ5IHBheWxvYWQ")}
	cases := []struct {
		name      string
		env       []string
		req       map[string]any
		wantCode  string
		wantMsg   string
		wantAudit int
	}{
		{"not a notary payload", sockEnv, junk, "ACCESS_DENIED", "not a Notary payload", 1},
		{"a delegation key", sockEnv, with(junk, "keyId", "jeff"), "ACCESS_DENIED", "delegation key", 1},
		{"no agent configured", nil, junk, "VALIDATION_ERROR", "TRUST_AGENT_SOCK is not set", 0},
		{"agent gone", []string{"TRUST_AGENT_SOCK=" + filepath.Join(t.TempDir(), "sock")}, junk, "ERROR", "no agent at", 0},
		{"unknown key", sockEnv, with(junk, "keyId", "nosuch"), "VALIDATION_ERROR", "holds no notation key", 0},
		{"wrong key spec", sockEnv, with(junk, "keySpec", "EC-384"), "VALIDATION_ERROR", "is EC-256, not EC-384", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.audit.Lines())
			stdout, stderr, code := f.run(t, c.env, "generate-signature", c.req)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q", code, stdout)
			}
			var e struct {
				ErrorCode    string `json:"errorCode"`
				ErrorMessage string `json:"errorMessage"`
			}
			if err := json.Unmarshal([]byte(stderr), &e); err != nil {
				t.Fatalf("stderr is not the error JSON: %q", stderr)
			}
			if e.ErrorCode != c.wantCode || !strings.Contains(e.ErrorMessage, c.wantMsg) || strings.Contains(e.ErrorMessage, "\n") {
				t.Fatalf("error %+v, want %s with %q", e, c.wantCode, c.wantMsg)
			}
			if got := len(f.audit.Lines()) - before; got != c.wantAudit {
				t.Fatalf("%d audit lines, want %d: %q", got, c.wantAudit, f.audit.Lines()[before:])
			}
		})
	}
	// A locked agent: the payload is good, the key may not sign now.
	hdr, _ := json.Marshal(map[string]any{"alg": "ES256", "cty": notation.MediaTypePayload, "crit": []string{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": time.Now().Format(time.RFC3339)})
	body := `{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + desc.Digest.String() + `","size":10}}`
	good := with(junk, "payload", []byte(base64.RawURLEncoding.EncodeToString(hdr)+"."+base64.RawURLEncoding.EncodeToString([]byte(body))))
	if err := f.keyring.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := len(f.audit.Lines())
	_, stderr, code := f.run(t, sockEnv, "generate-signature", good)
	if code != 1 || !strings.Contains(stderr, `"errorCode":"ACCESS_DENIED"`) || !strings.Contains(stderr, "trust-agent unlock") {
		t.Fatalf("locked agent: exit %d, %s", code, stderr)
	}
	if got := len(f.audit.Lines()) - before; got != 1 {
		t.Fatalf("%d audit lines for a locked agent's refusal", got)
	}
	// describe-key and get-plugin-metadata, as notation calls them.
	stdout, stderr, code := f.run(t, sockEnv, "describe-key", map[string]any{"contractVersion": "1.0", "keyId": "good"})
	if code != 0 || !strings.Contains(stdout, `"keySpec":"EC-256"`) {
		t.Fatalf("describe-key: exit %d, %s %s", code, stdout, stderr)
	}
	stdout, _, code = f.run(t, nil, "get-plugin-metadata", map[string]any{})
	if code != 0 || !strings.Contains(stdout, `"name":"trust-agent"`) || !strings.Contains(stdout, `"SIGNATURE_GENERATOR.RAW"`) {
		t.Fatalf("get-plugin-metadata: exit %d, %s", code, stdout)
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}
