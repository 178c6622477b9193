package hostile_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	// The agent side signs cosign payloads, as the trust-agent binary does.
	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf" // the "tuf" format: Keyring.Sign signs through it
	"github.com/trust-agent/trust-agent/internal/hostile"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// Repositories the attacks use.
const (
	testGUN  = "example.com/team/app"
	otherGUN = "example.com/other/app"
)

// Timeouts the test agent is served with, short so that the tests of the
// resource defences need no long waits. closeWait bounds how long a test
// waits for the agent to close a connection: far above these, so only a
// missing defence (not a slow machine) fails it.
const (
	testIdleTimeout  = time.Second
	testFrameTimeout = time.Second
	closeWait        = 20 * time.Second
)

// serveOptions are the options the in-process agent is served with: the
// idle timeout and frame deadline shortened to testIdleTimeout and
// testFrameTimeout, so the resource tests need no long waits.
var serveOptions = func(log *slog.Logger) socket.ServeOptions {
	return socket.ServeOptions{Logger: log, IdleTimeout: testIdleTimeout, FrameTimeout: testFrameTimeout}
}

// verifyAuditFile checks the audit log's hash chain and returns its number
// of lines.
var verifyAuditFile = agent.VerifyAuditFile

// env is one agent served in-process over a fresh SoftHSM token.
type env struct {
	path  string // socket
	audit string // audit log
	tok   *softhsmtest.Fixture
	k     *agent.Keyring
	// skew is added to the agent's clock: a test moves the agent's time
	// forward (past a PIN throttle's wait) without sleeping.
	skew atomic.Int64
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }

// startAgent starts an agent on a new token, served on a socket in a temp
// dir with an audit file. The agent side uses package socket; the client
// side of these tests never does.
func startAgent(t testing.TB) *env {
	t.Helper()
	return startAgentWith(t, serveOptions)
}

// startAgentWith is startAgent served with the options opts gives.
func startAgentWith(t testing.TB, opts func(log *slog.Logger) socket.ServeOptions) *env {
	t.Helper()
	e := &env{tok: softhsmtest.New(t, "24680")}
	store, err := pkcs11.Open(e.tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e.audit = filepath.Join(dir, "audit.log")
	af, err := agent.OpenAuditFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	e.k = agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: af, Now: e.now})
	e.path = filepath.Join(dir, "run", "agent.sock")
	l, err := socket.Listen(e.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- socket.Serve(ctx, l, e.k, opts(log)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		e.k.Close()
		af.Close()
	})
	return e
}

// prepare starts an agent and makes the attacks' keys on it.
func prepare(t testing.TB) (*env, *hostile.Target) {
	t.Helper()
	e := startAgent(t)
	tg, err := hostile.Prepare(e.path, testGUN, otherGUN)
	if err != nil {
		t.Fatal(err)
	}
	return e, tg
}

// keySummary is what the token holds, as the agent lists it: each key's
// ID, role, name, repository and the repositories of its certificates.
func keySummary(t testing.TB, path string) []string {
	t.Helper()
	c, err := hostile.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var keys []hostile.KeyInfo
	if err := c.DoJSON(hostile.TypeList, nil, &keys); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		s := k.ID + " " + k.Role + " " + k.Name + " " + k.GUN
		for _, c := range k.Certs {
			s += " cert:" + c.GUN
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// auditLines returns the audit log's lines.
func auditLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			lines = append(lines, bytes.TrimSuffix(line, []byte("\n")))
		}
		if err != nil {
			return lines
		}
	}
}

// checkAuditChain fails t when the audit log's chain is broken.
func checkAuditChain(t testing.TB, path string) {
	t.Helper()
	if _, err := verifyAuditFile(path); err != nil {
		t.Errorf("audit log %s: %v", path, err)
	}
}
