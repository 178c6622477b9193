package agent

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// Metrics are the agent's counters for a fleet's monitoring: requests by
// operation, result and role, a latency histogram, hardware errors, and
// the audit log's group commits.
// They live in memory only (the audit log is the durable record) and
// reach clients in Status.
type Metrics struct {
	// Requests counts requests by op, result ("ok" or "refused") and role
	// (the TUF role asked for, else the key's; "" when none).
	Requests []RequestCount `json:"requests,omitempty"`
	// LatencyBuckets are the upper bounds, in seconds, of the histogram of
	// request durations (Prometheus style: cumulative counts, +Inf last).
	LatencyBuckets []float64 `json:"latency_buckets,omitempty"`
	LatencyCounts  []uint64  `json:"latency_counts,omitempty"` // one per bucket, then +Inf
	LatencySum     float64   `json:"latency_sum_seconds,omitempty"`
	LatencyCount   uint64    `json:"latency_count,omitempty"`
	// HardwareErrors counts requests that failed because a token or card
	// could not be reached (ErrDeviceUnavailable).
	HardwareErrors uint64 `json:"hardware_errors,omitempty"`
	// AuditCommits counts the audit log's group commits, when the agent
	// writes one (AuditFile). Status.Audit is where its chain stands.
	AuditCommits *AuditCommits `json:"audit_commits,omitempty"`
}

// RequestCount is one counter of Metrics.Requests.
type RequestCount struct {
	Op     string `json:"op"`
	Result string `json:"result"`
	Role   string `json:"role,omitempty"`
	Count  uint64 `json:"count"`
}

// latencyBuckets suit a signer: SoftHSM signs in ~0.1 ms, a YubiKey in
// tens of ms, a touch or a network HSM in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// maxMetricSeries bounds the request counters: the role is the client's
// claim, so a client could otherwise grow the map without end.
const maxMetricSeries = 256

type requestKey struct{ op, result, role string }

// metrics collects Metrics; safe for concurrent use.
type metrics struct {
	mu       sync.Mutex
	requests map[requestKey]uint64
	buckets  []uint64
	sum      float64
	count    uint64
	hardware uint64
}

// knownRoles are the roles counted under their own name; anything else a
// client claims is counted as "other".
func metricRole(role string) string {
	switch {
	case role == "", role == "root", role == "targets", role == "snapshot", role == "timestamp", role == "delegation":
		return role
	case len(role) > len("targets/") && role[:len("targets/")] == "targets/":
		return "delegation"
	}
	return "other"
}

// observe counts one finished request.
func (m *metrics) observe(op, result, role string, took time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[requestKey]uint64{}
		m.buckets = make([]uint64, len(latencyBuckets)+1)
	}
	k := requestKey{op, result, metricRole(role)}
	if _, ok := m.requests[k]; ok || len(m.requests) < maxMetricSeries {
		m.requests[k]++
	}
	s := took.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, s)
	m.buckets[i]++
	m.sum += s
	m.count++
	if err != nil && errors.Is(err, ErrDeviceUnavailable) {
		m.hardware++
	}
}

// snapshot returns the counters, sorted, with cumulative buckets.
func (m *metrics) snapshot() Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Metrics{LatencyBuckets: latencyBuckets, LatencySum: m.sum, LatencyCount: m.count, HardwareErrors: m.hardware}
	for k, n := range m.requests {
		out.Requests = append(out.Requests, RequestCount{Op: k.op, Result: k.result, Role: k.role, Count: n})
	}
	sort.Slice(out.Requests, func(i, j int) bool {
		a, b := out.Requests[i], out.Requests[j]
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Result != b.Result {
			return a.Result < b.Result
		}
		return a.Role < b.Role
	})
	var cum uint64
	out.LatencyCounts = make([]uint64, len(latencyBuckets)+1)
	for i := range out.LatencyCounts {
		if m.buckets != nil {
			cum += m.buckets[i]
		}
		out.LatencyCounts[i] = cum
	}
	return out
}
