package bench

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/tuf" // the "tuf" format: Keyring.Sign signs through it
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// emit prints a line for internal/benchratio: "P3 0.74" is a measure's
// headline, "P3: …" a detail row of its table.
func emit(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

// inProcess is an agent on a fresh SoftHSM token, in this process, behind a
// real socket, with its audit log on (AuditFile, fsynced per line) unless
// noAudit.
type inProcess struct {
	k    *agent.Keyring
	sock string
	key  agent.KeyInfo // a delegation key, "bench"
}

func startInProcess(b *testing.B, noAudit bool) *inProcess {
	b.Helper()
	tok := softhsmtest.New(b, "13579")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		b.Fatal(err)
	}
	opts := agent.Options{Stores: []agent.KeyStore{store}}
	if !noAudit {
		af, err := agent.OpenAuditFile(filepath.Join(b.TempDir(), "audit.log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { af.Close() })
		opts.Audit = af
	}
	k := agent.New(opts)
	b.Cleanup(func() { k.Close() })
	key, err := k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(b.TempDir(), "agent", "sock")
	l, err := socket.Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- socket.Serve(ctx, l, k, socket.ServeOptions{}) }()
	b.Cleanup(func() { cancel(); <-done })
	return &inProcess{k: k, sock: sock, key: key}
}

// settle starts a measure once the disk has written what the measures
// before it left behind: the kernel's writeback of one measure's files
// (P4 publishes ten thousand tags) otherwise runs during the next one's
// turns. Run right after P4, P6 read 9.0 and 9.9 without it, 8.4 and 8.7
// with it.
func settle(b *testing.B) {
	b.Helper()
	syscall.Sync()
}

func dial(b *testing.B, sock string) *socket.Client {
	b.Helper()
	c, err := socket.Dial(sock)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// latencies collects durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile is the q-quantile (0..1) of the durations collected.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return s[i]
}

// netProfile counts what one operation does on the network, through
// net/http's client trace: connections made and reused, TLS handshakes,
// requests written.
type netProfile struct {
	conns, reused, handshakes, requests atomic.Int64
}

func (p *netProfile) context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				p.reused.Add(1)
			} else {
				p.conns.Add(1)
			}
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) { p.handshakes.Add(1) },
		WroteRequest:     func(httptrace.WroteRequestInfo) { p.requests.Add(1) },
	})
}

func (p *netProfile) String() string {
	return fmt.Sprintf("%d requests, %d new connections, %d reused, %d TLS handshakes",
		p.requests.Load(), p.conns.Load(), p.reused.Load(), p.handshakes.Load())
}

// countingAgent counts the calls made to an agent, by method.
type countingAgent struct {
	agent.Agent
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingAgent) count(m string) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[m]++
	c.mu.Unlock()
}

func (c *countingAgent) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for m, n := range c.calls {
		s = append(s, fmt.Sprintf("%s ×%d", m, n))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func (c *countingAgent) List(ctx context.Context) ([]agent.KeyInfo, error) {
	c.count("List")
	return c.Agent.List(ctx)
}

func (c *countingAgent) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	c.count("Sign")
	return c.Agent.Sign(ctx, req)
}

func (c *countingAgent) Status(ctx context.Context) (agent.Status, error) {
	c.count("Status")
	return c.Agent.Status(ctx)
}

func (c *countingAgent) CertifyRoot(ctx context.Context, req agent.CertifyRequest) ([]byte, error) {
	c.count("CertifyRoot")
	return c.Agent.CertifyRoot(ctx, req)
}

// writePub writes k's public key as `trust-agent key generate` does.
func writePub(b *testing.B, k agent.KeyInfo, name string) string {
	b.Helper()
	var body strings.Builder
	enc := k.PublicKey
	const width = 64
	s := base64.StdEncoding.EncodeToString(enc)
	for len(s) > width {
		body.WriteString(s[:width] + "\n")
		s = s[width:]
	}
	body.WriteString(s + "\n")
	path := filepath.Join(b.TempDir(), name+".pub")
	pub := "-----BEGIN PUBLIC KEY-----\nrole: " + name + "\n\n" + body.String() + "-----END PUBLIC KEY-----\n"
	if err := os.WriteFile(path, []byte(pub), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func dialOnce(sock string) (*socket.Client, error) { return socket.Dial(sock) }

// softhsmURI makes a fresh SoftHSM token and returns its URI with its PIN
// file, for an agent process.
func softhsmURI(b *testing.B) string {
	b.Helper()
	return softhsmtest.New(b, "13579").URI()
}
