package main

// The payload formats this binary's agent signs besides TUF: each
// registers itself with agent.RegisterFormat in its init. One line per
// format.
import (
	_ "github.com/trust-agent/trust-agent/format/notation"
)
