package socket

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// benchServeEnv makes the test binary, re-executed, serve the in-test agent
// with the default ServeOptions on the socket it names, so a benchmark can
// read the agent's own RSS.
var benchStalled, _ = strconv.Atoi(cmpOr(os.Getenv("BENCH_STALLED"), "40"))

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const benchServeEnv = "TRUST_AGENT_SOCKET_BENCH_SERVE"

func benchServe(path string) int {
	l, err := Listen(path)
	if err != nil {
		fmt.Println("LISTEN FAILED:", err)
		return 3
	}
	fmt.Println("LISTENING")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if err := Serve(context.Background(), l, new(fakeAgent), ServeOptions{Logger: log}); err != nil {
		fmt.Println("SERVE FAILED:", err)
		return 4
	}
	return 0
}

// procKiB reads a "Name:   N kB" line of /proc/PID/status.
func procKiB(pid int, name string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return n
		}
	}
	return -1
}

// BenchmarkHostileLoad runs the agent (the in-test agent behind Serve with
// the default ServeOptions) as a child process, opens 1,000 idle
// connections and 40 that stall half-way through 16 MiB frames, and then
// measures a normal request from a new client (dial and sign). It reports
// the slowest request (max-ms; the target is under 1,000) and the agent's
// peak and final RSS (peak-rss-MiB, rss-MiB; the target is under 200).
func BenchmarkHostileLoad(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc to read the agent's RSS")
	}
	raiseNOFILE(4096)
	path := filepath.Join(b.TempDir(), "run", "agent.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServeEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "LISTENING\n" {
		b.Fatalf("agent: %q", line)
	}
	pid := cmd.Process.Pid

	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range 1000 {
		c, err := net.Dial("unix", path)
		if err != nil {
			b.Fatalf("idle connection: %v", err)
		}
		conns = append(conns, c)
	}
	const big = maxFrameBytes - 2
	half := make([]byte, big/2)
	var wg sync.WaitGroup
	for range benchStalled {
		c, err := net.Dial("unix", path)
		if err != nil {
			b.Fatalf("stalled connection: %v", err)
		}
		conns = append(conns, c)
		wg.Go(func() {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			c.Write(header(msgSign, big))
			c.Write(half) // then stall; refused ones see an error here
		})
	}
	time.Sleep(2 * time.Second) // let the stalled frames arrive as far as they can

	req := agent.SignRequest{KeyID: "aa", GUN: "docker.io/library/alpine", Role: "targets",
		Data: []byte(`{"_type":"Targets","expires":"2030-01-01T00:00:00Z","targets":{},"version":2}`)}
	var worst time.Duration
	peak := 0.0
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		c, err := Dial(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Sign(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		c.Close()
		worst = max(worst, time.Since(start))
		peak = max(peak, procKiB(pid, "VmRSS"))
	}
	b.StopTimer()
	peak = max(peak, procKiB(pid, "VmHWM"))
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
	b.ReportMetric(peak/1024, "peak-rss-MiB")
	b.ReportMetric(procKiB(pid, "VmRSS")/1024, "rss-MiB")
}
