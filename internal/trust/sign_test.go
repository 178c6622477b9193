package trust

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// liveAgent is an agent on a fresh SoftHSM token behind a real socket that
// a test can stop (as if it died) and start again on the same token.
type liveAgent struct {
	t    *testing.T
	tok  *softhsmtest.Fixture
	path string
	keys *agent.Keyring
	// askpass says yes to every question (root rotations need one), and
	// appends each to the file asked.
	askpass, asked string
	cancel         context.CancelFunc
	done           chan error
}

func startLiveAgent(t *testing.T) *liveAgent {
	t.Helper()
	la := &liveAgent{t: t, tok: softhsmtest.New(t, "1234"), path: filepath.Join(t.TempDir(), "run", "agent.sock")}
	la.start()
	t.Cleanup(la.stop)
	return la
}

func (la *liveAgent) start() {
	la.t.Helper()
	store, err := pkcs11.Open(la.tok.URI())
	if err != nil {
		la.t.Fatal(err)
	}
	if la.askpass == "" {
		la.askpass, la.asked = yesAskpass(la.t)
	}
	la.keys = agent.New(agent.Options{Stores: []agent.KeyStore{store}, Askpass: la.askpass})
	l, err := socket.Listen(la.path)
	if err != nil {
		la.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	la.cancel, la.done = cancel, make(chan error, 1)
	go func() { la.done <- socket.Serve(ctx, l, la.keys, socket.ServeOptions{}) }()
}

func (la *liveAgent) stop() {
	if la.cancel == nil {
		return
	}
	la.cancel()
	<-la.done
	la.keys.Close()
	la.cancel = nil
}

// client dials the agent as the CLI does, once per command.
func (la *liveAgent) client() agent.Agent {
	la.t.Helper()
	c, err := socket.Dial(la.path)
	if err != nil {
		la.t.Fatal(err)
	}
	la.t.Cleanup(func() { c.Close() })
	return c
}

// generatePub makes a delegation key on the agent and writes NAME.pub as
// `trust-agent key generate` does.
func generatePub(t *testing.T, a agent.Agent, name string) (agent.KeyInfo, string) {
	t.Helper()
	k, err := a.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".pub")
	pub := "-----BEGIN PUBLIC KEY-----\nrole: " + name + "\n\n" + pemBody(k.PublicKey) + "-----END PUBLIC KEY-----\n"
	if err := os.WriteFile(path, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}

// signEnv is where most signing tests start: an agent on a fresh token
// behind a socket, a notary-server, a registry with REPO:v1 pushed, and a
// docker configuration that trusts the server.
type signEnv struct {
	la   *liveAgent
	n    *trusttest.Notary
	reg  *trusttest.Registry
	img  trusttest.Image
	dc   *trusttest.DockerConfig
	opts Options
}

func newSignEnv(t *testing.T, repo string) *signEnv {
	t.Helper()
	e := &signEnv{la: startLiveAgent(t), n: trusttest.StartNotary(t), reg: trusttest.StartRegistry(t)}
	e.img = e.reg.PushRandom(t, repo, "v1")
	e.dc = trusttest.NewDockerConfig(t, e.n)
	e.opts = Options{ConfigDir: e.dc.Dir, Server: e.n.URL}
	return e
}

// addSigner makes a delegation key on la's token and adds it as signer
// name of repo with SignerAdd, initialising the repository if need be.
func addSigner(t *testing.T, la *liveAgent, opts Options, name, repo string) {
	t.Helper()
	_, pub := generatePub(t, la.client(), name)
	err := SignerAdd(context.Background(), SignerAddOptions{Options: opts, Out: io.Discard, Agent: la.client(), Name: name, KeyFiles: []string{pub}, Repos: []string{repo}})
	if err != nil {
		t.Fatalf("signer add %s %s: %v", name, repo, err)
	}
}

// TestSignIntoDockerRepository: a repository docker created with its own
// file keys accepts a signer whose key lives in the agent; trust-agent sign
// signs into it; docker, the notary CLI and Verify all see the signature.
func TestSignIntoDockerRepository(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "team/app")
	la, n, img, dc := env.la, env.n, env.img, env.dc

	// docker makes the repository (root and targets keys in its files)...
	dc.AddSigner(t, "bob", img.Repo)
	// ...and adds alice, whose key was made on the token.
	alice, pub := generatePub(t, la.client(), "alice")
	dc.MustDocker(t, "trust", "signer", "add", "--key", pub, "alice", img.Repo)

	var out bytes.Buffer
	o := SignOptions{Options: Options{ConfigDir: dc.Dir, Server: n.URL}, Out: &out}
	o.Agent, o.Refs = la.client(), []string{img.Ref}
	if err := Sign(ctx, o); err != nil {
		t.Fatalf("sign: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Successfully signed "+img.Ref) {
		t.Fatalf("output:\n%s", out.String())
	}

	inspect := dc.MustDocker(t, "trust", "inspect", "--pretty", img.Ref)
	if !strings.Contains(inspect, img.Hex) || !strings.Contains(inspect, "alice") || !strings.Contains(inspect, alice.ID[:12]) {
		t.Fatalf("docker trust inspect does not show alice's signature:\n%s", inspect)
	}
	list := dc.MustNotaryCLI(t, "list", img.Repo, "--roles", "targets/releases")
	if !strings.Contains(list, "v1") || !strings.Contains(list, img.Hex) {
		t.Fatalf("notary list:\n%s", list)
	}
	fresh := trusttest.NewDockerConfig(t, n)
	v, err := Verify(ctx, VerifyOptions{Options: Options{ConfigDir: fresh.Dir, Server: n.URL}, Ref: img.Ref})
	if err != nil || v.Digest != img.Digest {
		t.Fatalf("Verify = %+v, %v; want %s", v, err, img.Digest)
	}
}

// TestSignNewRepository: signer add initialises a repository with keys on
// the token only (root, repository, alice), and sign publishes every tag
// of a repository in one go.
func TestSignNewRepository(t *testing.T) {
	ctx := context.Background()
	la := startLiveAgent(t)
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	v1 := reg.PushRandom(t, "hw/app", "v1")
	v2 := reg.PushRandom(t, "hw/app", "v2")
	dc := trusttest.NewDockerConfig(t, n)
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}

	_, pub := generatePub(t, la.client(), "alice")
	var out bytes.Buffer
	// Asked before a root key is made, with where it would live: "no"
	// makes no key and publishes nothing.
	var asked string
	no := opts
	no.ConfirmNewRoot = func(p string) bool { asked = p; return false }
	if err := SignerAdd(ctx, SignerAddOptions{Options: no, Out: &out, Agent: la.client(), Name: "alice", KeyFiles: []string{pub}, Repos: []string{v1.Repo}}); err == nil || !strings.Contains(out.String(), "no root key was made: aborted") {
		t.Fatalf("signer add answered no: %v\n%s", err, out.String())
	}
	if !strings.Contains(asked, "Make the new root key on pkcs11:token=") || !strings.Contains(out.String(), "a new root key will be made on pkcs11:token=") {
		t.Fatalf("the question %q or the output does not say where the root key goes:\n%s", asked, out.String())
	}
	if keys, err := la.client().List(ctx); err != nil || slices.ContainsFunc(keys, func(k agent.KeyInfo) bool { return k.Role == agent.RoleRoot }) {
		t.Fatalf("a root key was made after the answer no (%v)", err)
	}
	out.Reset()
	if err := SignerAdd(ctx, SignerAddOptions{Options: opts, Out: &out, Agent: la.client(), Name: "alice", KeyFiles: []string{pub}, Repos: []string{v1.Repo}}); err != nil {
		t.Fatalf("signer add: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Adding signer \"alice\" to " + v1.Repo, "Initializing signed repository", "Generated a new root key", "Successfully added signer: alice to " + v1.Repo} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("signer add output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	var progress bytes.Buffer
	if err := Sign(ctx, SignOptions{Options: opts, Out: &out, Progress: &progress, Agent: la.client(), Refs: []string{v1.Ref, v2.Ref}}); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if strings.Count(progress.String(), "\n") != 2 || !strings.Contains(progress.String(), "[2/2] "+v2.Ref) {
		t.Fatalf("progress:\n%s", progress.String())
	}
	repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{v1.Repo}})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	WriteJSON(&got, repos)
	if want := dc.MustDocker(t, "trust", "inspect", v1.Repo); got.String() != want {
		t.Fatalf("inspect differs from docker's\n--- docker:\n%s\n--- ours:\n%s", want, got.String())
	}
	if len(repos[0].SignedTags) != 2 {
		t.Fatalf("signed tags: %+v", repos[0].SignedTags)
	}
	// releases is reserved, as in docker
	if err := SignerAdd(ctx, SignerAddOptions{Options: opts, Out: &out, Agent: la.client(), Name: "releases", KeyFiles: []string{pub}, Repos: []string{v1.Repo}}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("signer add releases: %v", err)
	}
}

// TestSignFaults: each failure says what to do, publishes nothing, and the
// same command succeeds once the cause is gone.
func TestSignFaults(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "faults/app")
	la, n, img, opts := env.la, env.n, env.img, env.opts
	addSigner(t, la, opts, "alice", img.Repo)
	var out bytes.Buffer
	sign := func(o Options, refs ...string) error {
		return Sign(ctx, SignOptions{Options: o, Out: &out, Agent: la.client(), Refs: refs})
	}
	signedTags := func() int {
		repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{img.Repo}})
		if err != nil {
			t.Fatal(err)
		}
		return len(repos[0].SignedTags)
	}

	t.Run("missing tag", func(t *testing.T) {
		err := sign(opts, img.Repo+":nosuch")
		t.Logf("%v; hint: %s", err, Hint(err))
		if err == nil || Hint(err) == "" || !strings.Contains(err.Error(), "cannot resolve") {
			t.Fatalf("err = %v, hint %q", err, Hint(err))
		}
	})
	t.Run("unreachable server", func(t *testing.T) {
		o := opts
		o.Server = "https://127.0.0.1:1"
		err := sign(o, img.Ref)
		t.Logf("%v; hint: %s", err, Hint(err))
		if err == nil || Hint(err) == "" {
			t.Fatalf("err = %v, hint %q", err, Hint(err))
		}
	})
	t.Run("TLS failure", func(t *testing.T) {
		o := Options{ConfigDir: t.TempDir(), Server: n.URL} // no CA for the server
		err := sign(o, img.Ref)
		t.Logf("%v; hint: %s", err, Hint(err))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("locked agent", func(t *testing.T) {
		if err := la.client().Lock(ctx); err != nil {
			t.Fatal(err)
		}
		err := sign(opts, img.Ref)
		t.Logf("%v; hint: %s", err, Hint(err))
		if !errors.Is(err, agent.ErrLocked) {
			t.Fatalf("err = %v, want ErrLocked", err)
		}
		if err := la.client().Unlock(ctx, agent.UnlockRequest{PIN: []byte(la.tok.PIN)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("agent gone", func(t *testing.T) {
		c := la.client()
		la.stop()
		err := Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: c, Refs: []string{img.Ref}})
		t.Logf("%v; hint: %s", err, Hint(err))
		if err == nil {
			t.Fatal("signed with no agent")
		}
		la.start()
	})
	if n := signedTags(); n != 0 {
		t.Fatalf("%d tags published by failed commands", n)
	}
	if err := sign(opts, img.Ref); err != nil {
		t.Fatalf("the same command after the faults: %v", err)
	}
	if n := signedTags(); n != 1 {
		t.Fatalf("%d signed tags, want 1", n)
	}
}

func pemBody(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// dyingAgent forwards to an agent and stops it after the first signature,
// as if the agent died in the middle of a publish.
type dyingAgent struct {
	agent.Agent
	la    *liveAgent
	signs int
}

func (d *dyingAgent) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	d.signs++
	if d.signs == 2 {
		d.la.stop()
	}
	return d.Agent.Sign(ctx, req)
}

// TestSignAgentDiesMidPublish: the publish fails whole, and the same
// command succeeds once the agent is back.
func TestSignAgentDiesMidPublish(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "dies/app")
	la, img, opts := env.la, env.img, env.opts
	addSigner(t, la, opts, "alice", img.Repo)
	var out bytes.Buffer
	// alice signs targets/alice and targets/releases: two signatures.
	d := &dyingAgent{Agent: la.client(), la: la}
	err := Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: d, Refs: []string{img.Ref}})
	t.Logf("%v", err)
	if err == nil || d.signs < 2 {
		t.Fatalf("publish with a dead agent: err = %v after %d signatures", err, d.signs)
	}
	repos, err := Inspect(ctx, InspectOptions{Options: opts, Refs: []string{img.Repo}})
	if err != nil {
		t.Fatal(err)
	}
	if len(repos[0].SignedTags) != 0 {
		t.Fatalf("half a publish reached the server: %+v", repos[0].SignedTags)
	}
	la.start()
	if err := Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatalf("the same command with the agent back: %v", err)
	}
	if _, err := Verify(ctx, VerifyOptions{Options: opts, Ref: img.Ref}); err != nil {
		t.Fatal(err)
	}
}

// TestSignRegistryAuth: a registry that wants credentials gets docker's
// (config.json), and without them the error says to log in.
func TestSignRegistryAuth(t *testing.T) {
	ctx := context.Background()
	la := startLiveAgent(t)
	n := trusttest.StartNotary(t)
	const user, password = "ci", "hunter2"
	srv := httptest.NewServer(requireBasicAuth(user, password, registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	tag, err := name.NewTag(host + "/private/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	dc := trusttest.NewDockerConfig(t, n)
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}
	addSigner(t, la, opts, "alice", host+"/private/app")
	var out bytes.Buffer
	err = Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: la.client(), Refs: []string{tag.String()}})
	t.Logf("%v; hint: %s", err, Hint(err))
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(Hint(err), "docker login") {
		t.Fatalf("err = %v, hint %q; want an authentication failure that says to log in", err, Hint(err))
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	cfg := `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dc.Dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: la.client(), Refs: []string{tag.String()}}); err != nil {
		t.Fatalf("with docker's credentials: %v", err)
	}
}

func requireBasicAuth(user, password string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TestVerifyRefusesReplacedRoot: a server that answers for a repository
// with another root than the one a client pinned (an attacker's, or a
// re-created repository) fails verification with docker's warning, and the
// pinned trust data is kept.
func TestVerifyRefusesReplacedRoot(t *testing.T) {
	ctx := context.Background()
	reg := trusttest.StartRegistry(t)
	img := reg.PushRandom(t, "pinned/app", "v1")
	var servers []*trusttest.Notary
	for i := 0; i < 2; i++ { // two servers, two tokens: two different roots for one GUN
		la := startLiveAgent(t)
		n := trusttest.StartNotary(t)
		dc := trusttest.NewDockerConfig(t, n)
		opts := Options{ConfigDir: dc.Dir, Server: n.URL}
		addSigner(t, la, opts, "alice", img.Repo)
		var out bytes.Buffer
		if err := Sign(ctx, SignOptions{Options: opts, Out: &out, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, n)
	}
	client := trusttest.NewDockerConfig(t, servers[0])
	// Both servers' CAs, so that only TUF can tell them apart.
	if err := os.MkdirAll(filepath.Join(client.Dir, "tls", servers[1].Addr), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(client.Dir, "tls", servers[1].Addr, "ca.crt"), servers[1].CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	first := Options{ConfigDir: client.Dir, Server: servers[0].URL}
	if _, err := Verify(ctx, VerifyOptions{Options: first, Ref: img.Ref}); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(ctx, VerifyOptions{Options: Options{ConfigDir: client.Dir, Server: servers[1].URL}, Ref: img.Ref})
	t.Logf("%v; hint: %s", err, Hint(err))
	if err == nil || !strings.Contains(err.Error(), "potential malicious behavior") || Hint(err) == "" {
		t.Fatalf("a replaced root was accepted, or not said to be suspicious: %v", err)
	}
	if _, err := Verify(ctx, VerifyOptions{Options: first, Ref: img.Ref}); err != nil {
		t.Fatalf("the pinned trust data was damaged: %v", err)
	}
}

// refusingAgent forwards everything but signatures.
type refusingAgent struct{ agent.Agent }

func (refusingAgent) Sign(context.Context, agent.SignRequest) (agent.Signature, error) {
	return agent.Signature{}, errors.New("no signatures today")
}

// TestInitializeRetryReusesTargetsKey: a first publish that fails leaves a
// repository key on the token; the retry uses it instead of making another.
func TestInitializeRetryReusesTargetsKey(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "retry/app")
	la, img := env.la, env.img
	opts := SignerAddOptions{Options: env.opts, Out: io.Discard}
	_, pub := generatePub(t, la.client(), "alice")
	opts.Agent, opts.Name, opts.KeyFiles, opts.Repos = refusingAgent{la.client()}, "alice", []string{pub}, []string{img.Repo}
	if err := SignerAdd(ctx, opts); err == nil {
		t.Fatal("signer add published without signatures")
	}
	opts.Agent, opts.Name, opts.KeyFiles, opts.Repos = la.client(), "alice", []string{pub}, []string{img.Repo}
	if err := SignerAdd(ctx, opts); err != nil {
		t.Fatal(err)
	}
	keys, err := la.client().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	targets, roots := 0, 0
	for _, k := range keys {
		switch k.Role {
		case agent.RoleTargets:
			targets++
		case agent.RoleRoot:
			roots++
		}
	}
	if targets != 1 || roots != 1 {
		t.Fatalf("%d repository keys and %d root keys after a retried initialisation, want 1 and 1", targets, roots)
	}
}

// TestSignP384Signer: notary and docker accept a P-384 delegation key held
// by the agent.
func TestSignP384Signer(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "p384/app")
	la, n, img, dc, opts := env.la, env.n, env.img, env.dc, env.opts
	k, err := la.client().Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "big"}, Bits: 384})
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "big.pub")
	if err := os.WriteFile(pub, []byte("-----BEGIN PUBLIC KEY-----\n"+pemBody(k.PublicKey)+"-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SignerAdd(ctx, SignerAddOptions{Options: opts, Out: io.Discard, Agent: la.client(), Name: "big", KeyFiles: []string{pub}, Repos: []string{img.Repo}}); err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatal(err)
	}
	fresh := trusttest.NewDockerConfig(t, n)
	if v, err := Verify(ctx, VerifyOptions{Options: Options{ConfigDir: fresh.Dir, Server: n.URL}, Ref: img.Ref}); err != nil || v.Digest != img.Digest {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if out := dc.MustDocker(t, "trust", "inspect", "--pretty", img.Ref); !strings.Contains(out, "big") {
		t.Fatalf("docker trust inspect:\n%s", out)
	}
}

// TestVerifyNeedsTheServer: with the server out of reach, verify fails
// rather than trusting a cache that may predate a revocation, unless
// --offline says to.
func TestVerifyNeedsTheServer(t *testing.T) {
	ctx := context.Background()
	env := newSignEnv(t, "offline/app")
	la, img, opts := env.la, env.img, env.opts
	addSigner(t, la, opts, "alice", img.Repo)
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: la.client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, VerifyOptions{Options: opts, Ref: img.Ref}); err != nil { // fills the cache
		t.Fatal(err)
	}
	gone := opts
	gone.Server = "https://127.0.0.1:1"
	_, err := Verify(ctx, VerifyOptions{Options: gone, Ref: img.Ref})
	t.Logf("%v; hint: %s", err, Hint(err))
	if err == nil || !strings.Contains(err.Error(), "error contacting notary server") || !strings.Contains(Hint(err), "--offline") {
		t.Fatalf("verify with the server gone = %v; want a refusal that names --offline", err)
	}
	gone.Offline = true
	if v, err := Verify(ctx, VerifyOptions{Options: gone, Ref: img.Ref}); err != nil || v.Digest != img.Digest {
		t.Fatalf("verify --offline = %+v, %v; want the cached digest", v, err)
	}
}

// TestSignerAddNewRootOnPIVCard: a repository's first root key goes on the
// agent's PIV card, not on the token that happens to come first.
func TestSignerAddNewRootOnPIVCard(t *testing.T) {
	ctx := context.Background()
	const card = "piv:serial=7"
	a := agent.New(agent.Options{Stores: []agent.KeyStore{namedStore{&softStore{}, "token"}, namedStore{&softStore{}, card}}})
	t.Cleanup(func() { a.Close() })
	n := trusttest.StartNotary(t)
	img := trusttest.StartRegistry(t).PushRandom(t, "newroot/app", "v1")
	dc := trusttest.NewDockerConfig(t, n)
	_, pub := generatePub(t, a, "alice")
	var out bytes.Buffer
	if err := SignerAdd(ctx, SignerAddOptions{Options: Options{ConfigDir: dc.Dir, Server: n.URL}, Out: &out, Agent: a, Name: "alice", KeyFiles: []string{pub}, Repos: []string{img.Repo}}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := rootKeysByBackend(t, a); got[card] != 1 || got["token"] != 0 {
		t.Fatalf("root keys per backend %v, want the one on the card", got)
	}
	if !strings.Contains(out.String(), "Generated a new root key on "+card+" (soft:") {
		t.Fatalf("output does not say where the root key was made:\n%s", out.String())
	}
}

// TestSignerAddSeveralRootKeys: after a root rotation the agent holds two
// root keys; a new repository asks which, listing them with where they are
// and what they certify, and the hint's flag works as given.
func TestSignerAddSeveralRootKeys(t *testing.T) {
	ctx := context.Background()
	a, opts, repo := multiBackendRepo(t, "roots/app", "token", "token")
	if err := Rotate(ctx, RotateOptions{Options: opts, Yes: true, Out: io.Discard, Agent: a, Role: "root", Repo: repo}); err != nil {
		t.Fatal(err)
	}
	_, pub := generatePub(t, a, "alice")
	newRepo := repo + "-new"
	o := SignerAddOptions{Options: opts, Out: io.Discard}
	o.Agent, o.Name, o.KeyFiles, o.Repos = a, "alice", []string{pub}, []string{newRepo}
	err := SignerAdd(ctx, o)
	var e *Error
	if !errors.As(err, &e) || e.Err == nil {
		t.Fatalf("err = %v", err)
	}
	msg := e.Err.Error() // the repository's own error, under docker's summary
	t.Logf("%s; hint: %s", msg, Hint(err))
	if !strings.Contains(msg, "the agent holds 2 root keys") {
		t.Fatalf("err = %v", msg)
	}
	keys, lerr := a.List(ctx)
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, k := range keys {
		if k.Role == agent.RoleRoot && !strings.Contains(msg, k.ID+" on token (certificates for: "+repo+")") {
			t.Fatalf("the error does not list root key %s with its backend and repository: %s", k.ID, msg)
		}
	}
	flag, ok := strings.CutPrefix(Hint(err), "choose the root key with --root-key ID, e.g. --root-key ")
	if !ok || len(strings.Fields(flag)) == 0 {
		t.Fatalf("hint %q does not show the flag", Hint(err))
	}
	o.RootKeyID = strings.Fields(flag)[0]
	o.Agent, o.Name, o.KeyFiles, o.Repos = a, "alice", []string{pub}, []string{newRepo}
	if err := SignerAdd(ctx, o); err != nil {
		t.Fatal(err)
	}
}

// TestSignRespectsDelegationPaths: as docker, sign skips a delegation
// whose paths do not cover the tag instead of failing the whole publish.
func TestSignRespectsDelegationPaths(t *testing.T) {
	ctx := context.Background()
	a, opts, repoName := multiBackendRepo(t, "paths/app", "token", "token")
	alice, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publicKey(alice)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := parseRef(repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := openRepo(ctx, opts, ref, NewCryptoService(a, ref.gun.String()).WithContext(ctx), actionsPushPull...)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.AddDelegation(releasesRole, []data.PublicKey{pub}, []string{""}); err != nil {
		t.Fatal(err)
	}
	if err := repo.AddDelegation("targets/alice", []data.PublicKey{pub}, []string{"beta-"}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(); err != nil {
		t.Fatal(err)
	}
	o := SignOptions{Options: opts, Out: io.Discard, Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1234}
	o.Agent, o.Refs = a, []string{repoName + ":v1"}
	if err := Sign(ctx, o); err != nil {
		t.Fatalf("sign a tag outside targets/alice's paths: %v", err)
	}
	o.Agent, o.Refs = a, []string{repoName + ":beta-1"}
	if err := Sign(ctx, o); err != nil {
		t.Fatalf("sign a tag inside targets/alice's paths: %v", err)
	}
	roles := func(tag string) []string {
		metas, err := repo.GetAllTargetMetadataByName(tag)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range metas {
			names = append(names, m.Role.Name.String())
		}
		sort.Strings(names)
		return names
	}
	if got := strings.Join(roles("v1"), ","); got != "targets/releases" {
		t.Fatalf("v1 in %s, want targets/releases", got)
	}
	if got := strings.Join(roles("beta-1"), ","); got != "targets/alice,targets/releases" {
		t.Fatalf("beta-1 in %s, want targets/alice,targets/releases", got)
	}
}

// TestSignerAddErrorsToErr: a repository's error goes to Err (the CLI's
// stderr), as docker prints it, not among the progress messages on Out.
func TestSignerAddErrorsToErr(t *testing.T) {
	a := agent.New(agent.Options{Stores: []agent.KeyStore{&softStore{}}})
	t.Cleanup(func() { a.Close() })
	_, pub := generatePub(t, a, "alice")
	var out, errs bytes.Buffer
	err := SignerAdd(context.Background(), SignerAddOptions{Out: &out, Err: &errs, Agent: a, Name: "alice", KeyFiles: []string{pub}, Repos: []string{"example.com/UPPER"}})
	if err == nil {
		t.Fatal("signer add to an invalid repository succeeded")
	}
	if !strings.Contains(errs.String(), "must be lowercase") || strings.Contains(out.String(), "must be lowercase") {
		t.Fatalf("stdout %q, stderr %q; want the repository's error on stderr only", out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "Adding signer \"alice\" to example.com/UPPER") {
		t.Fatalf("stdout %q", out.String())
	}
}
