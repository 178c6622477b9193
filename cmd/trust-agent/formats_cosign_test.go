package main

import (
	"slices"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
)

// TestCosignFormatServed: the agent this binary serves signs cosign
// payloads (formats.go imports format/cosign).
func TestCosignFormatServed(t *testing.T) {
	if !slices.Contains(agent.Formats(), "cosign") {
		t.Fatalf("formats %v lack cosign: add the import to formats.go", agent.Formats())
	}
}
