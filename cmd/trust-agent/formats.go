package main

// The payload formats this agent signs besides TUF: each registers itself
// with agent.RegisterFormat in its init when imported. One line per format.
import (
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
)
