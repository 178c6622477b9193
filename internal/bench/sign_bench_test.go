package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
)

// randomDigest is a made-up manifest digest: the notary server never sees
// the manifest, only its hash and size.
func randomDigest(b *testing.B) (digest, hexSum string) {
	var sum [32]byte
	if _, err := rand.Read(sum[:]); err != nil {
		b.Fatal(err)
	}
	h := hex.EncodeToString(sum[:])
	return "sha256:" + h, h
}

// signerRepo makes repo on n with the agent's delegation key as signer
// alice (root and repository keys on the agent too), as a user's repository
// looks after `trust-agent signer add`.
func signerRepo(b *testing.B, a agent.Agent, opts trust.Options, repo string) {
	signerRepoAs(b, a, opts, repo, "alice")
}

// signerRepoAs is signerRepo with the signer (and key) named signer.
func signerRepoAs(b *testing.B, a agent.Agent, opts trust.Options, repo, signer string) {
	b.Helper()
	ctx := context.Background()
	k, err := a.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: signer}})
	if err != nil {
		b.Fatal(err)
	}
	pub := writePub(b, k, signer)
	if err := trust.SignerAdd(ctx, trust.SignerAddOptions{Options: opts, Out: io.Discard, Agent: a, Name: signer, KeyFiles: []string{pub}, Repos: []string{repo}}); err != nil {
		b.Fatalf("signer add: %v", err)
	}
}

// BenchmarkP3Profile signs one tag through the Go API with the network
// traced and the agent's calls counted: what one `trust-agent sign` does.
func BenchmarkP3Profile(b *testing.B) {
	settle(b)
	ip := startInProcess(b, false)
	n := trusttest.StartNotary(b)
	dc := trusttest.NewDockerConfig(b, n)
	opts := trust.Options{ConfigDir: dc.Dir, Server: n.URL}
	c := dial(b, ip.sock)
	repo := n.Addr + "/bench/profile"
	signerRepo(b, c, opts, repo)
	for i := range 2 {
		digest, _ := randomDigest(b)
		var p netProfile
		ca := &countingAgent{Agent: c}
		ctx := p.context(context.Background())
		start := time.Now()
		err := trust.Sign(ctx, trust.SignOptions{Options: opts, Digest: digest, Size: 1234, Out: io.Discard, Agent: ca, Refs: []string{fmt.Sprintf("%s:t%d", repo, i)}})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		emit("P3: profile of one sign (Go API, cache %s): %v; %s; agent calls: %s", map[bool]string{true: "warm", false: "cold"}[i > 0], took.Round(100*time.Microsecond), &p, ca)
	}
}

// buildBinary builds trust-agent into a temporary directory.
func buildBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "trust-agent")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/trust-agent/trust-agent/cmd/trust-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run runs a program with env and returns how long it took.
func run(b *testing.B, env []string, bin string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	return took
}

// BenchmarkP3 times `trust-agent sign --digest --size` of one new tag as a
// whole process (the built binary, an agent process on SoftHSM with its
// audit log) against Debian's notary CLI `addhash` then `publish` with file
// keys, on the same notary-server, alternating runs.
func BenchmarkP3(b *testing.B) {
	settle(b)
	const runs = 15
	bin := buildBinary(b)
	notaryCLI := trusttest.RequireProgram(b, trusttest.NotaryProgram)
	ag := startChild(b, bin)
	n := trusttest.StartNotary(b)
	dc := trusttest.NewDockerConfig(b, n)
	opts := trust.Options{ConfigDir: dc.Dir, Server: n.URL}
	c := dial(b, ag.sock)
	ours := n.Addr + "/bench/agent"
	theirs := n.Addr + "/bench/notary"
	signerRepo(b, c, opts, ours)
	dc.MustNotaryCLI(b, "init", theirs)
	dc.MustNotaryCLI(b, "publish", theirs)
	env := append(dc.Env(), "TRUST_AGENT_SOCK="+ag.sock)
	notaryArgs := []string{"-s", n.URL, "-d", dc.TrustDir, "--tlscacert", n.CAFile}
	var tAgent, tNotary []time.Duration
	for i := range runs + 1 {
		digest, hexSum := randomDigest(b)
		tag := fmt.Sprintf("t%d", i)
		a := run(b, env, bin, "sign", "--digest", digest, "--size", "1234", ours+":"+tag)
		n1 := run(b, env, notaryCLI, append(notaryArgs, "addhash", theirs, tag, "1234", "--sha256", hexSum)...)
		n2 := run(b, env, notaryCLI, append(notaryArgs, "publish", theirs)...)
		if i == 0 {
			continue // the first of each fills caches: not counted
		}
		tAgent = append(tAgent, a)
		tNotary = append(tNotary, n1+n2)
	}
	ma, mn := median(tAgent), median(tNotary)
	emit("P3: trust-agent sign --digest (whole process, agent on SoftHSM): median %v of %d", ma.Round(100*time.Microsecond), runs)
	emit("P3: notary addhash + publish (file keys): median %v of %d", mn.Round(100*time.Microsecond), runs)
	emit("P3 %.2f", float64(ma)/float64(mn))
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// child is an agent running as its own process (`trust-agent start -f`).
type child struct {
	cmd    *exec.Cmd
	sock   string
	tokURI string // the token, PIN file included
	audit  string // the audit log's path
}

// startChild starts the agent as a child process on a fresh SoftHSM token
// (softhsmtest sets SOFTHSM2_CONF for this process, and the child inherits
// it) with its audit log on, and waits until it answers.
func startChild(b *testing.B, bin string) *child {
	b.Helper()
	tokURI := softhsmURI(b)
	dir := b.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	audit := filepath.Join(dir, "audit.log")
	cmd := exec.Command(bin, "start", "-f", "--socket", sock, "--pkcs11", tokURI, "--audit-log", audit)
	cmd.Env = os.Environ()
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := dialOnce(sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the agent did not start:\n%s", log.String())
		}
	}
	return &child{cmd: cmd, sock: sock, tokURI: tokURI, audit: audit}
}
