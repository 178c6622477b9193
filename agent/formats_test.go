package agent_test

// The formats live in format/*, which import this package, so the
// package's own (internal) tests cannot import them; this external test
// file links them into the one test binary, where their inits register
// "tuf", "notation" and "cosign" (and with them the notation and cosign key
// roles) before any test runs, the internal tests included.
import (
	"slices"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf"
)

func TestTUFRegistered(t *testing.T) {
	if !slices.Contains(agent.Formats(), agent.TUFFormat) {
		t.Fatalf("formats %v lack %q", agent.Formats(), agent.TUFFormat)
	}
}

// TestRolesFromFormats: a format's key role is valid because the format
// registered it; TUF's roles are the agent's own.
func TestRolesFromFormats(t *testing.T) {
	for _, r := range []agent.Role{agent.RoleNotation, agent.RoleCosign} {
		if !r.Valid() || !r.ForFormat() {
			t.Errorf("role %q: Valid %v, ForFormat %v; want both (its format is registered)", r, r.Valid(), r.ForFormat())
		}
	}
	for _, r := range []agent.Role{agent.RoleRoot, agent.RoleTargets, agent.RoleSnapshot, agent.RoleDelegation} {
		if !r.Valid() || r.ForFormat() {
			t.Errorf("role %q: Valid %v, ForFormat %v; want valid, not a format role", r, r.Valid(), r.ForFormat())
		}
	}
	for _, r := range []agent.Role{"", "tuf", "timestamp", "Notation", "notation ", "sigstore"} {
		if r.Valid() || r.ForFormat() {
			t.Errorf("role %q accepted; no registered format serves it", r)
		}
	}
	want := []agent.Role{"root", "targets", "snapshot", "delegation", "cosign", "notation"}
	if got := agent.Roles(); !slices.Equal(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
}
