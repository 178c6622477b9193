package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/agent/agenttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
)

// auditedKeyring is an agent over a SoftHSM token with a real, fsyncing
// audit log in a temporary directory, and a delegation key to sign with.
func auditedKeyring(tb testing.TB) (*agent.Keyring, string, agent.KeyInfo) {
	return signingKeyring(tb, true)
}

func signingKeyring(tb testing.TB, audited bool) (*agent.Keyring, string, agent.KeyInfo) {
	tb.Helper()
	tok := softhsmtest.New(tb, "246810")
	store, err := pkcs11.Open(tok.URI())
	if err != nil {
		tb.Fatal(err)
	}
	opts := agent.Options{Stores: []agent.KeyStore{store}}
	path := filepath.Join(tb.TempDir(), "audit.log")
	if audited {
		audit, err := agent.OpenAuditFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { audit.Close() })
		opts.Audit = audit
	}
	k := agent.New(opts)
	tb.Cleanup(func() { k.Close() })
	key, err := k.Generate(context.Background(), agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "jeff"}})
	if err != nil {
		tb.Fatal(err)
	}
	return k, path, key
}

func signReq(key agent.KeyInfo) agent.SignRequest {
	return agent.SignRequest{KeyID: key.ID, GUN: agenttest.GUN, Role: "targets/releases", Data: agenttest.TargetsJSON("v1")}
}

// TestAuditFileReplacedUnderAgent is the attack: the log is
// replaced (sed -i: an edited copy renamed over it) under a running agent,
// then 5 signatures. Before, they went to the deleted inode: 0 visible
// lines. Now all 5 are in the file at the path, after a line saying it
// was replaced, and the chain links across.
func TestAuditFileReplacedUnderAgent(t *testing.T) {
	k, path, key := auditedKeyring(t)
	ctx := context.Background()
	if _, err := k.Sign(ctx, signReq(key)); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "sedAbc123")
	if err := os.WriteFile(tmp, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := k.Sign(ctx, signReq(key)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := agent.VerifyAuditFile(path)
	if err != nil {
		t.Fatalf("chain broken after the replacement: %v", err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if n != len(lines) {
		t.Fatalf("VerifyAuditFile counted %d lines of %d", n, len(lines))
	}
	replaced, signs := -1, 0
	for i, l := range lines {
		var e struct {
			Op     string
			Result string
			Chain  *struct{ Replaced bool }
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Op == "audit-start" && e.Chain != nil && e.Chain.Replaced:
			replaced = i
		case replaced >= 0 && e.Op == "sign" && e.Result == "ok":
			signs++
		}
	}
	if replaced < 0 || signs != 5 {
		t.Fatalf("replaced line at %d, %d signatures visible after it; want 5:\n%s", replaced+1, signs, b)
	}
	// The agent's status names the file's last line.
	st, err := k.Status(ctx)
	if err != nil || st.Audit == nil || st.Audit.Path != path || st.Audit.Seq == 0 {
		t.Fatalf("Status().Audit = %+v, %v", st.Audit, err)
	}
	if rep, err := agent.VerifyAuditLogHead(path, *st.Audit); err != nil || rep.HeadLine != len(lines) {
		t.Fatalf("VerifyAuditLogHead = %+v, %v; want the head on line %d", rep, err, len(lines))
	}
}

// BenchmarkAuditSign measures signatures per second with the audit log on
// (a real file, fsynced; SoftHSM signing), for 1 to 16 concurrent
// clients. Group commit should give 8 clients at least 3 times the rate of
// one: `make bench` reports it; no test asserts a speed.
func BenchmarkAuditSign(b *testing.B) { benchmarkSign(b, true) }

// BenchmarkSignNoAudit is BenchmarkAuditSign without an audit log: what
// the machine and SoftHSM allow, to read the audited figures against.
func BenchmarkSignNoAudit(b *testing.B) { benchmarkSign(b, false) }

func benchmarkSign(b *testing.B, audited bool) {
	for _, clients := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			k, _, key := signingKeyring(b, audited)
			req := signReq(key)
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := k.Sign(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
		})
	}
}
