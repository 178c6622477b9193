package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

func newKeyring(t *testing.T, audit agent.Auditor) (*agent.Keyring, *softhsmtest.Fixture) {
	t.Helper()
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: audit})
	t.Cleanup(func() { k.Close() })
	return k, tok
}

// TestKeyringSuite runs the shared suite against the agent called directly;
// socket's tests run it through a real socket.
func TestKeyringSuite(t *testing.T) {
	k, tok := newKeyring(t, nil)
	agenttest.Run(t, agenttest.Config{Agent: k, PIN: tok.PIN})
}

// TestAuditLog checks one line per request, with what the policy saw.
func TestAuditLog(t *testing.T) {
	var log bytes.Buffer
	k, _ := newKeyring(t, agent.AuditTo(&log))
	ctx := agent.WithPeer(context.Background(), agent.Peer{UID: 1000, PID: 42, Exe: "/usr/bin/trust-agent"})
	key, err := k.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("v1", "v2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(ctx, agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: []byte("not json")}); err == nil {
		t.Fatal("signed junk")
	}
	if _, err := k.Attest(ctx, agent.AttestRequest{KeyID: key.ID}); !errors.Is(err, agent.ErrInvalidRequest) {
		t.Fatalf("Attest of a PKCS#11 key: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d audit lines, want 4:\n%s", len(lines), log.String())
	}
	var attest agent.Event
	if err := json.Unmarshal([]byte(lines[3]), &attest); err != nil {
		t.Fatal(err)
	}
	if attest.Op != "attest" || attest.Result != "refused" || attest.KeyID != key.ID || attest.Role != "delegation" ||
		attest.Peer == nil || !strings.Contains(attest.Error, "cannot be attested") {
		t.Fatalf("attest event: %s", lines[3])
	}
	var signed, refused agent.Event
	if err := json.Unmarshal([]byte(lines[1]), &signed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[2]), &refused); err != nil {
		t.Fatal(err)
	}
	if signed.Op != "sign" || signed.Result != "ok" || signed.KeyID != key.ID || signed.GUN != agenttest.GUN ||
		signed.Role != "targets/releases" || signed.Peer == nil || signed.Peer.UID != 1000 || signed.Peer.Exe == "" ||
		signed.Metadata == nil || signed.Metadata.Type != "Targets" || signed.Metadata.Version != 2 ||
		strings.Join(signed.Metadata.Targets, ",") != "v1,v2" || signed.Metadata.Expires.Year() != 2030 {
		t.Fatalf("signed event: %s", lines[1])
	}
	if refused.Result != "refused" || !strings.Contains(refused.Error, "not canonical") {
		t.Fatalf("refused event: %s", lines[2])
	}
}

// brokenAudit fails once broken is set.
type brokenAudit struct{ broken atomic.Bool }

func (b *brokenAudit) Record(agent.Event) error {
	if b.broken.Load() {
		return errors.New("disk full")
	}
	return nil
}

// TestAuditFailureRefuses: no signature exists that the log cannot show.
func TestAuditFailureRefuses(t *testing.T) {
	audit := &brokenAudit{}
	k, _ := newKeyring(t, audit)
	key, err := k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		t.Fatal(err)
	}
	audit.broken.Store(true)
	sig, err := k.Sign(context.Background(), agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON()})
	if err == nil || !strings.Contains(err.Error(), "disk full") || sig.Signature != nil {
		t.Fatalf("Sign with a broken audit log = %v, %v; want a refusal", sig, err)
	}
}

// TestLifetimeLocks: with a lifetime the agent locks itself, and an unlock
// starts the clock again.
func TestLifetimeLocks(t *testing.T) {
	tok := softhsmtest.New(t, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		t.Fatal(err)
	}
	log := &syncWriter{w: &bytes.Buffer{}}
	k := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Lifetime: 50 * time.Millisecond, Audit: agent.AuditTo(log)})
	t.Cleanup(func() { k.Close() })
	ctx := context.Background()
	st, _ := k.Status(ctx)
	if st.Locked || st.LockAt.IsZero() {
		t.Fatalf("status right after start: %+v", st)
	}
	waitLocked := func() {
		t.Helper()
		for i := 0; i < 200; i++ {
			if st, _ := k.Status(ctx); st.Locked {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the agent did not lock itself")
	}
	waitLocked()
	if err := k.Unlock(ctx, agent.UnlockRequest{PIN: []byte(tok.PIN)}); err != nil {
		t.Fatal(err)
	}
	waitLocked()
	for i := 0; !strings.Contains(log.String(), "lifetime expired"); i++ {
		if i == 200 {
			t.Fatalf("the self-lock is not audited:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncWriter guards a buffer the lifetime timer writes from another goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
