package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// signatures is how many P5 asks of the agent before reading its memory.
const signatures = 100_000

// vmRSS is the resident set of process pid, in KiB.
func vmRSS(b *testing.B, pid int) int {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkP5 runs the agent as its own process (the built binary, SoftHSM,
// audit log on) and reads its resident memory idle and after 100,000
// signatures from 8 clients; and times `trust-agent status` as a whole
// process, the CLI's start-up with one request.
func BenchmarkP5(b *testing.B) {
	settle(b)
	bin := buildBinary(b)
	ag := startChild(b, bin)
	pid := ag.cmd.Process.Pid
	ctx := context.Background()
	c := dial(b, ag.sock)
	key, err := c.Generate(ctx, agent.GenerateRequest{KeyMeta: agent.KeyMeta{Role: agent.RoleDelegation, Name: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	idle := vmRSS(b, pid)

	req := signReq(key)
	const clients = 8
	var left atomic.Int64
	left.Store(signatures)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		cc := dial(b, ag.sock)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := cc.Sign(ctx, req); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	after := vmRSS(b, pid)
	if failed.Load() > 0 {
		b.Fatalf("%d of %d signatures failed", failed.Load(), signatures)
	}

	during, later := hostileLoad(b, ag.sock, pid)

	env := append(os.Environ(), "TRUST_AGENT_SOCK="+ag.sock)
	var status []time.Duration
	for range 11 {
		status = append(status, run(b, env, bin, "status"))
	}
	emit("P5: agent RSS idle %.1f MiB; after %d signatures (%v, 8 clients) %.1f MiB", float64(idle)/1024, signatures, took.Round(time.Second), float64(after)/1024)
	emit("P5: under hostile load (%d connections each announcing a 16 MiB frame and sending all of it but the last byte): %.1f MiB; 2 s after they closed %.1f MiB (goal ≤ 200 MiB)", stalled, float64(during)/1024, float64(later)/1024)
	emit("P5: trust-agent status, whole process: median %v of %d", median(status).Round(100*time.Microsecond), len(status))
	emit("P5 %.2f", float64(after)/float64(idle))
}

// stalled is how many connections the hostile load opens, as issue 7 found.
const stalled = 60

// hostileLoad opens stalled raw connections (docs/PROTOCOL.md's frame,
// no client package), each announcing a 16 MiB frame and sending all of it
// but its last byte, and reads the agent's memory while they hang and
// after they close, in KiB.
func hostileLoad(b *testing.B, sock string, pid int) (during, after int) {
	b.Helper()
	const frame = 16 << 20
	body := make([]byte, frame-2-1)
	conns := make([]net.Conn, 0, stalled)
	var wg sync.WaitGroup
	for range stalled {
		c, err := net.Dial("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			var head [6]byte
			binary.BigEndian.PutUint32(head[:4], frame)
			head[4], head[5] = 1, 1 // version 1, a request type
			if _, err := c.Write(head[:]); err == nil {
				_, _ = c.Write(body) // the agent may refuse and close: fine
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second)
	during = vmRSS(b, pid)
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(2 * time.Second)
	return during, vmRSS(b, pid)
}
