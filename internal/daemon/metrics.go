package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/socket"
)

// WritePrometheus prints st in the Prometheus text exposition format
// (version 0.0.4): what `status --metrics` and the metrics endpoint serve.
func WritePrometheus(w io.Writer, st agent.Status) {
	label := func(v string) string {
		return strconv.Quote(v) // Go's quoting escapes \, " and newlines as Prometheus wants
	}
	fmt.Fprintln(w, "# HELP trust_agent_up_seconds Seconds since the agent started.")
	fmt.Fprintln(w, "# TYPE trust_agent_up_seconds gauge")
	fmt.Fprintf(w, "trust_agent_up_seconds %d\n", int64(time.Since(st.Started).Seconds()))
	fmt.Fprintln(w, "# HELP trust_agent_locked Whether a backend needs its PIN (1) or is unlocked (0).")
	fmt.Fprintln(w, "# TYPE trust_agent_locked gauge")
	for _, b := range st.Backends {
		v := 0
		if b.Locked {
			v = 1
		}
		fmt.Fprintf(w, "trust_agent_locked{backend=%s,kind=%s} %d\n", label(b.Name), label(b.Kind), v)
	}
	fmt.Fprintln(w, "# HELP trust_agent_keys Keys on each backend.")
	fmt.Fprintln(w, "# TYPE trust_agent_keys gauge")
	for _, b := range st.Backends {
		fmt.Fprintf(w, "trust_agent_keys{backend=%s} %d\n", label(b.Name), b.Keys)
	}
	fmt.Fprintln(w, "# HELP trust_agent_backend_error Whether a backend could not be read (1).")
	fmt.Fprintln(w, "# TYPE trust_agent_backend_error gauge")
	for _, b := range st.Backends {
		v := 0
		if b.Error != "" {
			v = 1
		}
		fmt.Fprintf(w, "trust_agent_backend_error{backend=%s} %d\n", label(b.Name), v)
	}
	m := st.Metrics
	if m == nil {
		m = &agent.Metrics{}
	}
	fmt.Fprintln(w, "# HELP trust_agent_requests_total Requests by operation, result and role.")
	fmt.Fprintln(w, "# TYPE trust_agent_requests_total counter")
	for _, r := range m.Requests {
		fmt.Fprintf(w, "trust_agent_requests_total{op=%s,result=%s,role=%s} %d\n", label(r.Op), label(r.Result), label(r.Role), r.Count)
	}
	fmt.Fprintln(w, "# HELP trust_agent_hardware_errors_total Requests that failed because a token or card could not be reached.")
	fmt.Fprintln(w, "# TYPE trust_agent_hardware_errors_total counter")
	fmt.Fprintf(w, "trust_agent_hardware_errors_total %d\n", m.HardwareErrors)
	fmt.Fprintln(w, "# HELP trust_agent_request_duration_seconds How long requests took, audit line included.")
	fmt.Fprintln(w, "# TYPE trust_agent_request_duration_seconds histogram")
	for i, le := range m.LatencyBuckets {
		if i < len(m.LatencyCounts) {
			fmt.Fprintf(w, "trust_agent_request_duration_seconds_bucket{le=\"%g\"} %d\n", le, m.LatencyCounts[i])
		}
	}
	fmt.Fprintf(w, "trust_agent_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.LatencyCount)
	fmt.Fprintf(w, "trust_agent_request_duration_seconds_sum %g\n", m.LatencySum)
	fmt.Fprintf(w, "trust_agent_request_duration_seconds_count %d\n", m.LatencyCount)
	if a := m.AuditCommits; a != nil {
		fmt.Fprintln(w, "# HELP trust_agent_audit_commits_total Group commits of the audit log that succeeded: one write and one fsync each.")
		fmt.Fprintln(w, "# TYPE trust_agent_audit_commits_total counter")
		fmt.Fprintf(w, "trust_agent_audit_commits_total %d\n", a.Commits)
		fmt.Fprintln(w, "# HELP trust_agent_audit_lines_total Audit lines written by the commits; ÷ commits, the lines one fsync carried.")
		fmt.Fprintln(w, "# TYPE trust_agent_audit_lines_total counter")
		fmt.Fprintf(w, "trust_agent_audit_lines_total %d\n", a.Lines)
		fmt.Fprintln(w, "# HELP trust_agent_audit_sync_seconds_total Time the commits took, write and fsync as the agent waited for them; ÷ commits, what one request waits for the disk.")
		fmt.Fprintln(w, "# TYPE trust_agent_audit_sync_seconds_total counter")
		fmt.Fprintf(w, "trust_agent_audit_sync_seconds_total %g\n", a.SyncSeconds)
	}
}

// metricsListener listens where --metrics-listen says: "unix:PATH" (in a
// directory checked as the agent's socket's is) or a loopback host:port.
// Anything else is refused: the counters show what is signed, and when.
func metricsListener(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		path, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		if err := socket.CheckDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		os.Remove(path) // a stale socket from an earlier run; the directory is ours
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("metrics endpoint: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			l.Close()
			return nil, fmt.Errorf("metrics endpoint: %w", err)
		}
		return l, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w; use 127.0.0.1:PORT or unix:PATH", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--metrics-listen %s is not a loopback address; use 127.0.0.1:PORT, [::1]:PORT or unix:PATH (forward it if another machine must scrape it)", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	return l, nil
}

// serveMetrics serves GET /metrics from a until ctx ends.
func serveMetrics(ctx context.Context, l net.Listener, a agent.Agent, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st, err := a.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		WritePrometheus(w, st)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
	context.AfterFunc(ctx, func() { srv.Close() })
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		log.Warn("metrics endpoint stopped", "err", err)
	}
}
