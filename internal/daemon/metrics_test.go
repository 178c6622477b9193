package daemon

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
)

// TestWritePrometheusAuditCommits: the audit log's counters, each under
// its own name and type, with the value Status gave; none without a log.
func TestWritePrometheusAuditCommits(t *testing.T) {
	st := agent.Status{Started: time.Now(), Metrics: &agent.Metrics{AuditCommits: &agent.AuditCommits{Commits: 3, Lines: 7, SyncSeconds: 0.25}}}
	var out bytes.Buffer
	WritePrometheus(&out, st)
	for _, want := range []string{
		"# TYPE trust_agent_audit_commits_total counter\ntrust_agent_audit_commits_total 3\n",
		"# TYPE trust_agent_audit_lines_total counter\ntrust_agent_audit_lines_total 7\n",
		"# TYPE trust_agent_audit_sync_seconds_total counter\ntrust_agent_audit_sync_seconds_total 0.25\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	st.Metrics.AuditCommits = nil
	WritePrometheus(&out, st)
	if strings.Contains(out.String(), "trust_agent_audit_") {
		t.Errorf("an agent without an audit log shows audit counters:\n%s", out.String())
	}
}
