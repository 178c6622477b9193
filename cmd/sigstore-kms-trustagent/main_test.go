package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation" // a notation key, refused a cosign payload
	"github.com/trust-agent/trust-agent/internal/syncbuf"
	"github.com/trust-agent/trust-agent/piv"
	"github.com/trust-agent/trust-agent/piv/pivtest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// TestMain runs the test binary as the plugin when it is invoked under the
// plugin's name (sigstore's client finds it on PATH, as cosign does), the
// way testscript runs commands: the plugin tested is this package's main.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "sigstore-kms-trustagent" {
		os.Exit(run(os.Args, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// installPlugin puts this binary on PATH as sigstore-kms-trustagent.
func installPlugin(t *testing.T) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "sigstore-kms-trustagent")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// serveAgent runs a real agent on a fresh SoftHSM token behind a real
// socket, and points TRUST_AGENT_SOCK at it.
func serveAgent(t *testing.T) (*agent.Keyring, *syncbuf.Buffer) {
	t.Helper()
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	return serveStore(t, store)
}

// serveStore serves a real agent holding store behind a real socket.
func serveStore(t *testing.T, store agent.KeyStore) (*agent.Keyring, *syncbuf.Buffer) {
	t.Helper()
	audit := new(syncbuf.Buffer)
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: agent.AuditTo(audit)})
	t.Cleanup(func() { k.Close() })
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := socket.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, k, socket.ServeOptions{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Setenv("TRUST_AGENT_SOCK", path)
	return k, audit
}

const digest = "sha256:0d5a3bd3b3c1b1c0a1e3f4f9c4b5e8d0a6b7c8d9e0f1a2b3c4d5e6f708192a3b"

func simpleSigning(ref string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`)
}

// exportPEM is what `trust-agent key export` prints for k.
func exportPEM(k agent.KeyInfo) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})
}

// TestPluginSigns: sigstore's cliplugin client (what cosign uses for
// --key trustagent://NAME) runs the plugin against a real agent on SoftHSM;
// the signatures verify with sigstore's verifier loaded from the exported
// public key, for P-256, P-384 and RSA keys.
func TestPluginSigns(t *testing.T) {
	installPlugin(t)
	k, audit := serveAgent(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		req  agent.GenerateRequest
		hash crypto.Hash
		alg  string
	}{
		{"release", agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "release"}}, crypto.SHA256, "ecdsa-sha2-256-nistp256"},
		{"p384", agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "p384"}, Bits: 384}, crypto.SHA384, "ecdsa-sha2-384-nistp384"},
		{"rsa", agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: "rsa"}, Algorithm: agent.AlgorithmRSA, Bits: 3072}, crypto.SHA256, "rsa-sign-pkcs1-3072-sha256"},
	} {
		info, err := k.Generate(ctx, c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sv, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://"+c.name, c.hash)
		if err != nil {
			t.Fatal(err)
		}
		if got := sv.DefaultAlgorithm(); got != c.alg {
			t.Errorf("%s: defaultAlgorithm %q, want %q", c.name, got, c.alg)
		}
		if algs := sv.SupportedAlgorithms(); len(algs) == 0 || !strings.Contains(strings.Join(algs, " "), c.alg) {
			t.Errorf("%s: supportedAlgorithms %v lacks %s", c.name, algs, c.alg)
		}
		pub, err := sv.PublicKey()
		if err != nil {
			t.Fatalf("%s: publicKey: %v", c.name, err)
		}
		if err := cryptoutils.EqualKeys(pub, mustPub(t, exportPEM(info))); err != nil {
			t.Fatalf("%s: the plugin's public key is not the agent's: %v", c.name, err)
		}
		msg := simpleSigning("registry.example.com/team/app")
		sig, err := sv.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("%s: signMessage: %v", c.name, err)
		}
		v, err := signature.LoadVerifier(mustPub(t, exportPEM(info)), c.hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Errorf("%s: sigstore's verifier refuses the agent's signature: %v", c.name, err)
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(simpleSigning("registry.example.com/team/other"))); err == nil {
			t.Errorf("%s: the signature verifies for another payload", c.name)
		}
		if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Errorf("%s: the plugin's verifySignature refuses a good signature: %v", c.name, err)
		}
		// Reached by ID prefix as well as by name.
		byID, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://"+info.ID[:12], c.hash)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := byID.SignMessage(bytes.NewReader(msg)); err != nil {
			t.Errorf("%s by ID: %v", c.name, err)
		}
	}
	log := audit.String()
	if n := strings.Count(log, `"op":"sign-payload"`); n != 6 {
		t.Errorf("%d sign-payload audit lines, want 6:\n%s", n, log)
	}
	if !strings.Contains(log, `"digest":"`+digest+`"`) || !strings.Contains(log, `"reference":"registry.example.com/team/app"`) {
		t.Errorf("the audit log lacks the reference and digest:\n%s", log)
	}
}

func mustPub(t *testing.T, p []byte) crypto.PublicKey {
	t.Helper()
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestPluginRefuses: bad input gets one clear message in the protocol's
// error field, nothing signed, and one audit line when it reached the
// agent's policy.
func TestPluginRefuses(t *testing.T) {
	installPlugin(t)
	k, audit := serveAgent(t)
	ctx := context.Background()
	for _, m := range []agent.KeyMeta{
		{Role: agent.RoleCosign, Name: "app", GUN: "registry.example.com/team/app"},
		{Role: agent.RoleDelegation, Name: "dct"},
		{Role: agent.RoleNotation, Name: "note"},
	} {
		if _, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: m}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, key string
		hash      crypto.Hash
		msg       []byte
		want      string
		audited   bool
	}{
		{"not simple-signing", "app", crypto.SHA256, []byte(`{"_type":"Targets","signed":{}}`), "not a simple-signing payload", true},
		{"other repository", "app", crypto.SHA256, simpleSigning("registry.example.com/team/other"), "signs only for registry.example.com/team/app, not registry.example.com/team/other", true},
		{"delegation key", "dct", crypto.SHA256, simpleSigning("registry.example.com/team/app"), "is a delegation key", true},
		{"notation key", "note", crypto.SHA256, simpleSigning("registry.example.com/team/app"), "is a notation key", true},
		{"unknown key", "nosuch", crypto.SHA256, simpleSigning("registry.example.com/team/app"), `no key named or with ID "nosuch"`, false},
		{"wrong hash", "app", crypto.SHA384, simpleSigning("registry.example.com/team/app"), "(ecdsa-sha2-256-nistp256) signs with SHA-256 but the client asked for SHA-384", false},
	} {
		before := strings.Count(audit.String(), `"op":"sign-payload"`)
		sv, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://"+c.key, c.hash)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sv.SignMessage(bytes.NewReader(c.msg))
		if err == nil || sig != nil {
			t.Errorf("%s: signed (%x)", c.name, sig)
			continue
		}
		if !errors.Is(err, cliplugin.ErrorPluginReturnError) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), prefix) {
			t.Errorf("%s: %v, want a plugin error with %q", c.name, err, c.want)
		}
		t.Logf("%s: %v", c.name, err)
		if strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: message of several lines: %q", c.name, err)
		}
		want := before
		if c.audited {
			want++
		}
		if n := strings.Count(audit.String(), `"op":"sign-payload"`); n != want {
			t.Errorf("%s: %d sign-payload audit lines, want %d", c.name, n, want)
		}
	}
	if !strings.Contains(audit.String(), `"reference":"registry.example.com/team/other"`) {
		t.Errorf("the refusal's audit line lacks the reference it refused:\n%s", audit.String())
	}

	sv, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://app", crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	// createKey is refused with the command that makes a key.
	if _, err := sv.CreateKey(ctx, "ecdsa-sha2-256-nistp256"); err == nil || !strings.Contains(err.Error(), "trust-agent key generate app --role cosign") {
		t.Errorf("createKey: %v", err)
	}
	// A bare digest (sigstore's crypto.Signer wrapper) is refused.
	cs, opts, err := sv.CryptoSigner(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := crypto.SHA256.New()
	d.Write(simpleSigning("registry.example.com/team/app"))
	if _, err := cs.Sign(rand.Reader, d.Sum(nil), opts); err == nil || !strings.Contains(err.Error(), "signs only payloads it can read") {
		t.Errorf("digest signing: %v", err)
	}

	// A locked agent: nothing signed, one audit line, the command to run.
	if err := k.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(audit.String(), `"op":"sign-payload"`)
	if _, err := sv.SignMessage(bytes.NewReader(simpleSigning("registry.example.com/team/app"))); err == nil || !strings.Contains(err.Error(), "run `trust-agent unlock`") {
		t.Errorf("locked agent: %v", err)
	}
	if n := strings.Count(audit.String(), `"op":"sign-payload"`); n != before+1 {
		t.Errorf("locked agent: %d new sign-payload audit lines, want 1", n-before)
	}

	// No agent: one clear line naming the socket.
	gone := filepath.Join(t.TempDir(), "gone.sock")
	t.Setenv("TRUST_AGENT_SOCK", gone)
	if _, err := sv.SignMessage(bytes.NewReader(simpleSigning("registry.example.com/team/app"))); err == nil || !strings.Contains(err.Error(), "no trust-agent listening at "+gone) {
		t.Errorf("no agent: %v", err)
	}
	t.Setenv("TRUST_AGENT_SOCK", "")
	if _, err := sv.PublicKey(); err == nil || !strings.Contains(err.Error(), "TRUST_AGENT_SOCK is not set") {
		t.Errorf("no TRUST_AGENT_SOCK: %v", err)
	}
}

// TestMalformedRequests: whatever the arguments, the answer is one JSON
// object on stdout with the error in errorMessage, never a panic.
func TestMalformedRequests(t *testing.T) {
	t.Setenv("TRUST_AGENT_SOCK", "")
	init := `"initOptions":{"protocolVersion":"v1","keyResourceID":"release","hashFunc":5}`
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `expected arguments \"v1\" and a JSON request`},
		{[]string{"v2", "{}"}, `expected arguments \"v1\"`},
		{[]string{"v1", "not json"}, "cannot read the request"},
		{[]string{"v1", `{"methodName":"publicKey"}`}, "lacks initOptions or methodName"},
		{[]string{"v1", `{"initOptions":{"protocolVersion":"v9"},"methodName":"publicKey"}`}, `protocol \"v9\" is not supported`},
		{[]string{"v1", `{` + init + `,"methodName":"publicKey"}`}, "TRUST_AGENT_SOCK is not set"},
		{[]string{"v1", `{` + init + `,"methodName":"signMessage"}`}, "TRUST_AGENT_SOCK is not set"},
		{[]string{"v1", `{` + init + `,"methodName":"verifySignature"}`}, "TRUST_AGENT_SOCK is not set"},
		{[]string{"v1", `{` + init + `,"methodName":"createKey"}`}, "trust-agent key generate release --role cosign"},
		{[]string{"v1", `{` + init + `,"methodName":"deleteKey"}`}, "unsupported method: deleteKey"},
	} {
		var out bytes.Buffer
		code := run(append([]string{"sigstore-kms-trustagent"}, c.args...), strings.NewReader(""), &out)
		if code == 0 || !strings.HasPrefix(out.String(), `{"errorMessage":`) || !strings.Contains(out.String(), c.want) || strings.Contains(out.String(), "\n") {
			t.Errorf("%q: exit %d, %s; want an error answer with %q", c.args, code, out.String(), c.want)
		}
	}
	// defaultAlgorithm answers even without an agent (the default key kind).
	var out bytes.Buffer
	if run([]string{"sigstore-kms-trustagent", "v1", `{` + init + `,"methodName":"defaultAlgorithm"}`}, strings.NewReader(""), &out); out.String() != `{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-sha2-256-nistp256"}}` {
		t.Errorf("defaultAlgorithm: %s", out.String())
	}
}

// TestPluginSignsOnPIV: PIV keys (P-256 and P-384, on the virtual card
// through pcscd) sign for cosign through the plugin, verified with
// sigstore's default verifier for the key.
func TestPluginSignsOnPIV(t *testing.T) {
	card := pivtest.Card(t)
	const pin = "24681357"
	if err := piv.Setup(piv.SetupOptions{Serial: card.Card.Serial(), OldPIN: "123456", NewPIN: pin, OldPUK: "12345678", NewPUK: "87654321"}); err != nil {
		t.Fatal(err)
	}
	store, err := piv.Open(piv.Options{Serial: card.Card.Serial()})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	installPlugin(t)
	k, audit := serveStore(t, store)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		bits int
		hash crypto.Hash
	}{{"card256", 256, crypto.SHA256}, {"card384", 384, crypto.SHA384}} {
		info, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleCosign, Name: c.name, GUN: "registry.example.com/team/app"}, Bits: c.bits})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sv, err := cliplugin.LoadSignerVerifier(ctx, "trustagent://"+c.name, c.hash)
		if err != nil {
			t.Fatal(err)
		}
		msg := simpleSigning("registry.example.com/team/app:v1")
		sig, err := sv.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		v, err := signature.LoadDefaultVerifier(mustPub(t, exportPEM(info)))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Errorf("%s: sigstore's verifier refuses the card's signature: %v", c.name, err)
		}
		if _, err := sv.SignMessage(bytes.NewReader(simpleSigning("registry.example.com/team/other"))); err == nil || !strings.Contains(err.Error(), "signs only for registry.example.com/team/app") {
			t.Errorf("%s: another repository: %v", c.name, err)
		}
	}
	if n := strings.Count(audit.String(), `"op":"sign-payload"`); n != 4 {
		t.Errorf("%d sign-payload audit lines, want 4", n)
	}
}
