package agent_test

// The TUF policy lives in format/tuf, which imports this package, so the
// package's own (internal) tests cannot import it; this external test file
// links it into the one test binary, where its init registers the "tuf"
// format before any test runs, the internal tests' Keyring.Sign included.
import (
	"slices"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	_ "github.com/trust-agent/trust-agent/format/tuf"
)

func TestTUFRegistered(t *testing.T) {
	if !slices.Contains(agent.Formats(), agent.TUFFormat) {
		t.Fatalf("formats %v lack %q", agent.Formats(), agent.TUFFormat)
	}
}
