package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	nplugin "github.com/notaryproject/notation-go/plugin"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/cosign" // the in-process agent serves both formats
	_ "github.com/trust-agent/trust-agent/format/notation"
	"github.com/trust-agent/trust-agent/internal/notationplugin"
)

// buildCmd builds the plugin at module path pkg to out, as `make build`
// does: without cgo, a static binary (no dynamic loader at each start).
func buildCmd(b *testing.B, pkg, out string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
}

// fileKey writes a fresh ECDSA P-256 key (PKCS #8 PEM) and a self-signed
// code-signing certificate for it to dir, as a user's local key files.
func fileKey(b *testing.B, dir string) (keyPath, certPath string) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench", Organization: []string{"example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	keyPath, certPath = filepath.Join(dir, "bench.key"), filepath.Join(dir, "bench.crt")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	return keyPath, certPath
}

// side is one way of making a signature, timed over alternating windows.
type side struct {
	name string
	sign func() error
	t    time.Duration
	n    int
}

// alternate runs each side for window/2, twice, in turn.
func alternate(b *testing.B, sides ...*side) {
	b.Helper()
	for range 2 {
		for _, s := range sides {
			start := time.Now()
			for stop := start.Add(window / 2); time.Now().Before(stop); s.n++ {
				if err := s.sign(); err != nil {
					b.Fatalf("%s: %v", s.name, err)
				}
			}
			s.t += time.Since(start)
		}
	}
}

func (s *side) per() time.Duration { return s.t / time.Duration(s.n) }

// BenchmarkP7 compares one signature through each plugin with the same
// library signing with a local file key, each iteration doing what one CLI
// invocation does apart from the CLI's own start-up:
//
//   - Notation: notation-go's plugin manager finds and executes the built
//     notation-trust-agent (get-plugin-metadata, describe-key,
//     generate-signature), which asks the agent on SoftHSM, for a JWS
//     envelope; against signer.NewGenericSignerFromFiles reading a P-256
//     key and its self-signed certificate and signing the same descriptor.
//   - cosign: sigstore's cliplugin client executes the built
//     sigstore-kms-trustagent (found on PATH, as cosign finds it) for
//     --key trustagent://NAME and signs a simple-signing payload; against
//     signature.LoadSigner on a P-256 key read from a PEM file.
//
// The agent runs with its audit log on and fsynced, as users run it. The
// headline is the worse of the two ratios.
func BenchmarkP7(b *testing.B) {
	settle(b)
	ctx := context.Background()
	ip := startInProcess(b, false)

	// Notation
	pluginsDir := filepath.Join(b.TempDir(), "plugins")
	buildCmd(b, "github.com/trust-agent/trust-agent/cmd/notation-trust-agent",
		filepath.Join(pluginsDir, notationplugin.Name, "notation-"+notationplugin.Name))
	nkey, err := ip.k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleNotation, Name: "nbench"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ip.k.CertifyKey(ctx, agent.CertifyKeyRequest{KeyID: nkey.ID}); err != nil {
		b.Fatal(err)
	}
	keyPath, certPath := fileKey(b, b.TempDir())
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a manifest"), Size: 10}
	opts := notationgo.SignerSignOptions{SignatureMediaType: "application/jose+json", ExpiryDuration: time.Hour}
	mgr := nplugin.NewCLIManager(dir.NewSysFS(pluginsDir))
	nPlugin := &side{name: "notation through the plugin", sign: func() error {
		pl, err := mgr.Get(ctx, notationplugin.Name)
		if err != nil {
			return err
		}
		s, err := signer.NewPluginSigner(pl, "nbench", map[string]string{"socket": ip.sock})
		if err != nil {
			return err
		}
		_, _, err = s.Sign(ctx, desc, opts)
		return err
	}}
	nFile := &side{name: "notation with a file key", sign: func() error {
		s, err := signer.NewGenericSignerFromFiles(keyPath, certPath)
		if err != nil {
			return err
		}
		_, _, err = s.Sign(ctx, desc, opts)
		return err
	}}

	// cosign
	binDir := b.TempDir()
	buildCmd(b, "github.com/trust-agent/trust-agent/cmd/sigstore-kms-trustagent", filepath.Join(binDir, "sigstore-kms-trustagent"))
	b.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	b.Setenv("TRUST_AGENT_SOCK", ip.sock)
	ckey, err := ip.k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "cbench"}})
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(`{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},"image":{"docker-manifest-digest":"` +
		digest.FromString("a manifest").String() + `"},"type":"cosign container image signature"},"optional":null}`)
	cPlugin := &side{name: "cosign through the plugin", sign: func() error {
		sv, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://cbench", crypto.SHA256)
		if err != nil {
			return err
		}
		_, err = sv.SignMessage(bytes.NewReader(msg))
		return err
	}}
	cFile := &side{name: "cosign with a file key", sign: func() error {
		raw, err := os.ReadFile(keyPath)
		if err != nil {
			return err
		}
		pk, err := cryptoutils.UnmarshalPEMToPrivateKey(raw, cryptoutils.SkipPassword)
		if err != nil {
			return err
		}
		s, err := signature.LoadSigner(pk, crypto.SHA256)
		if err != nil {
			return err
		}
		_, err = s.SignMessage(bytes.NewReader(msg))
		return err
	}}

	alternate(b, nPlugin, nFile, cPlugin, cFile)
	nr := float64(nPlugin.per()) / float64(nFile.per())
	cr := float64(cPlugin.per()) / float64(cFile.per())
	for _, s := range []*side{nPlugin, nFile, cPlugin, cFile} {
		emit("P7: %s: %v per signature (%d signatures)", s.name, s.per().Round(time.Microsecond), s.n)
	}
	// Where the plugin side's time goes: one plugin process that does
	// nothing but answer (notation's get-plugin-metadata, no agent), and
	// the agent's own part (the cosign payload through the socket).
	c := dial(b, ip.sock)
	// The plugin process's own CPU time (user + system of all its
	// threads, from the kernel; it can exceed the wall time) beside the
	// wall time: on a loaded machine the wall time is mostly waiting for
	// a CPU.
	var exeCPU time.Duration
	exe := &side{name: "one plugin process (get-plugin-metadata)", sign: func() error {
		cmd := exec.Command(filepath.Join(pluginsDir, notationplugin.Name, "notation-"+notationplugin.Name), "get-plugin-metadata")
		cmd.Stdin = strings.NewReader("{}")
		err := cmd.Run()
		if cmd.ProcessState != nil {
			exeCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		return err
	}}
	agentOnly := &side{name: "the agent alone (SignPayload through the socket)", sign: func() error {
		_, err := c.SignPayload(ctx, agent.PayloadRequest{KeyID: ckey.ID, Format: "cosign", Payload: msg})
		return err
	}}
	alternate(b, exe, agentOnly)
	emit("P7: %s: %v per call; the process's CPU time, all its threads, %v (%d calls)", exe.name, exe.per().Round(time.Microsecond), (exeCPU / time.Duration(exe.n)).Round(time.Microsecond), exe.n)
	emit("P7: %s: %v per call (%d calls)", agentOnly.name, agentOnly.per().Round(time.Microsecond), agentOnly.n)
	wholeCosign(b, msg)
	emit("P7: Notation %.1f, cosign %.1f (plugin ÷ file key; the CLI's own start-up, the same for both, is not in either side)", nr, cr)
	emit("P7 %.1f", max(nr, cr))
}

// wholeCosign times the cosign CLI itself as a whole process, when one is
// built ($COSIGN, else the repository's .tmp/cosign from make
// test-cosign): `cosign sign-blob` of the payload with
// --key trustagent://cbench against --key on a cosign key file, 7
// alternating runs after one of each, medians. A detail line only: the
// headline stays the library measure, which every machine can run.
func wholeCosign(b *testing.B, msg []byte) {
	b.Helper()
	bin := os.Getenv("COSIGN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", ".tmp", "cosign"))
	}
	if _, err := os.Stat(bin); err != nil {
		emit("P7: cosign CLI as a whole process: not timed (no cosign binary at %s: make test-cosign builds one)", bin)
		return
	}
	dir := b.TempDir()
	blob := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(blob, msg, 0o600); err != nil {
		b.Fatal(err)
	}
	run := func(args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	run("generate-key-pair")
	viaPlugin := []string{"sign-blob", "--key", "trustagent://cbench", "--tlog-upload=false", "-y", blob}
	viaFile := []string{"sign-blob", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", "-y", blob}
	run(viaPlugin...)
	run(viaFile...)
	var p, f []time.Duration
	for range 7 {
		p = append(p, run(viaPlugin...))
		f = append(f, run(viaFile...))
	}
	slices.Sort(p)
	slices.Sort(f)
	emit("P7: cosign sign-blob as a whole process: median %v through the plugin, %v with a file key: %.2f (7 alternating runs)",
		p[3].Round(time.Millisecond), f[3].Round(time.Millisecond), float64(p[3])/float64(f[3]))
}
