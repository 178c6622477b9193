package agent

import (
	"fmt"
	"testing"
	"time"
)

// TestMetricsBounded: a client's claimed role cannot grow the counters
// without end, and the histogram is cumulative.
func TestMetricsBounded(t *testing.T) {
	var m metrics
	for i := range 10000 {
		m.observe("sign", "refused", fmt.Sprintf("made-up-%d", i), time.Millisecond, nil)
	}
	m.observe("sign", "ok", "targets/releases", 3*time.Second, ErrDeviceUnavailable)
	s := m.snapshot()
	if len(s.Requests) != 2 {
		t.Fatalf("%d series, want 2 (other, delegation): %+v", len(s.Requests), s.Requests)
	}
	if s.Requests[1].Role != "other" || s.Requests[1].Count != 10000 || s.Requests[0].Role != "delegation" {
		t.Fatalf("series %+v", s.Requests)
	}
	if s.LatencyCount != 10001 || s.HardwareErrors != 1 {
		t.Fatalf("count %d, hardware errors %d", s.LatencyCount, s.HardwareErrors)
	}
	last := s.LatencyCounts[len(s.LatencyCounts)-1]
	if last != 10001 || s.LatencyCounts[1] != 10000 || s.LatencyCounts[len(latencyBuckets)-3] != 10000 {
		t.Fatalf("buckets %v: want 10000 up to 1ms, all 10001 in +Inf", s.LatencyCounts)
	}
	for i := 1; i < len(s.LatencyCounts); i++ {
		if s.LatencyCounts[i] < s.LatencyCounts[i-1] {
			t.Fatalf("buckets not cumulative: %v", s.LatencyCounts)
		}
	}
}
