package socket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// fakeAgent is an agent.Agent for wire tests only: its answers are derived
// from the requests so a round trip can be compared with a direct call.
type fakeAgent struct {
	mu    sync.Mutex
	err   error         // returned by every method when set
	block chan struct{} // when set, Sign waits for it (or the context)
	peers []agent.Peer  // the peer of every call, from the context
	calls int
}

var _ agent.Agent = (*fakeAgent)(nil)

var fakeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeAgent) record(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if p, ok := agent.PeerFrom(ctx); ok {
		f.peers = append(f.peers, p)
	}
	return f.err
}

func (f *fakeAgent) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeAgent) calledPeers() []agent.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.Peer(nil), f.peers...)
}

func fakeKey(id string, meta agent.KeyMeta) agent.KeyInfo {
	return agent.KeyInfo{ID: id, KeyMeta: meta, Algorithm: agent.AlgorithmECDSA,
		PublicKey: []byte{0x30, 0x59, 0x00, 0xff}, Location: "pkcs11:token=t;id=%01", Backend: "softhsm",
		Certs: []agent.Cert{{GUN: "docker.io/library/alpine", DER: []byte{1, 2, 3}}}}
}

func (f *fakeAgent) List(ctx context.Context) ([]agent.KeyInfo, error) {
	if err := f.record(ctx); err != nil {
		return nil, err
	}
	return []agent.KeyInfo{
		fakeKey("aa", agent.KeyMeta{Role: agent.RoleRoot, Name: "root"}),
		fakeKey("bb", agent.KeyMeta{Role: agent.RoleTargets, GUN: "example.com:5000/app"}),
	}, nil
}

func (f *fakeAgent) Sign(ctx context.Context, req agent.SignRequest) (agent.Signature, error) {
	if err := f.record(ctx); err != nil {
		return agent.Signature{}, err
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return agent.Signature{}, ctx.Err()
		}
	}
	// Hashed in place, not copied: BenchmarkSignRoundTrip measures the
	// wire, and this SHA-256 stands for the agent's own.
	h := sha256.New()
	h.Write([]byte(req.KeyID + "|" + req.GUN + "|" + req.Role + "|"))
	h.Write(req.Data)
	return agent.Signature{KeyID: req.KeyID, Method: "ecdsa", Signature: h.Sum(nil)}, nil
}

func (f *fakeAgent) CertifyRoot(ctx context.Context, req agent.CertifyRequest) ([]byte, error) {
	if err := f.record(ctx); err != nil {
		return nil, err
	}
	return []byte(req.KeyID + "|" + req.GUN + "|" + req.NotBefore.String() + "|" + req.NotAfter.String()), nil
}

func (f *fakeAgent) Generate(ctx context.Context, req agent.GenerateRequest) (agent.KeyInfo, error) {
	if err := f.record(ctx); err != nil {
		return agent.KeyInfo{}, err
	}
	k := fakeKey("gen-"+req.Algorithm, req.KeyMeta)
	k.Backend = req.Backend
	return k, nil
}

func (f *fakeAgent) Import(ctx context.Context, req agent.ImportRequest) (agent.KeyInfo, error) {
	if err := f.record(ctx); err != nil {
		return agent.KeyInfo{}, err
	}
	k := fakeKey("imp", req.KeyMeta)
	k.PublicKey = bytes.Clone(req.PKCS8)
	return k, nil
}

func (f *fakeAgent) Lock(ctx context.Context) error { return f.record(ctx) }

func (f *fakeAgent) Unlock(ctx context.Context, req agent.UnlockRequest) error {
	if err := f.record(ctx); err != nil {
		return err
	}
	if string(req.PIN) != "123456" {
		return &agent.PINError{Retries: 2}
	}
	return nil
}

func (f *fakeAgent) Status(ctx context.Context) (agent.Status, error) {
	if err := f.record(ctx); err != nil {
		return agent.Status{}, err
	}
	return agent.Status{PID: 42, Started: fakeTime, Locked: true, Signatures: 7, Refusals: 1,
		LockAt:   fakeTime.Add(time.Hour),
		Backends: []agent.BackendStatus{{Name: "pkcs11:token=a", Kind: "pkcs11", Locked: true, Keys: 2, Error: "x"}}}, nil
}

func (f *fakeAgent) Attest(ctx context.Context, req agent.AttestRequest) ([][]byte, error) {
	if err := f.record(ctx); err != nil {
		return nil, err
	}
	return [][]byte{[]byte("leaf|" + req.KeyID), {0x30, 0x82, 0x00, 0xff}}, nil
}

func (f *fakeAgent) SignPayload(ctx context.Context, req agent.PayloadRequest) (agent.PayloadSignature, error) {
	if err := f.record(ctx); err != nil {
		return agent.PayloadSignature{}, err
	}
	return agent.PayloadSignature{KeyID: req.KeyID, Algorithm: "fake", Signature: req.Payload}, nil
}

func (f *fakeAgent) CertifyKey(ctx context.Context, req agent.CertifyKeyRequest) ([][]byte, error) {
	if err := f.record(ctx); err != nil {
		return nil, err
	}
	return req.Chain, nil
}

func (f *fakeAgent) Delete(ctx context.Context, req agent.DeleteRequest) error {
	return f.record(ctx)
}

// serveFake listens in a fresh directory and serves a with Serve until the
// test ends. It returns the socket path and the log.
func serveFake(t testing.TB, a agent.Agent) (string, *syncbuf.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, serveOn(t, l, a)
}

func serveOn(t testing.TB, l net.Listener, a agent.Agent) *syncbuf.Buffer {
	t.Helper()
	logBuf := new(syncbuf.Buffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, l, a, ServeOptions{Logger: slog.New(slog.NewTextHandler(logBuf, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return logBuf
}

func dialT(t testing.TB, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
