package main

// The payload formats this agent signs besides TUF: each registers itself
// with agent.RegisterFormat when imported. One line per format.
import (
	_ "github.com/trust-agent/trust-agent/format/cosign"
)
