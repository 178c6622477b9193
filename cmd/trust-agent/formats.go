package main

// The payload formats this agent signs: each registers itself with
// agent.RegisterFormat in its init when imported. One line per format;
// without format/tuf the agent refuses every TUF signature.
import (
	_ "github.com/trust-agent/trust-agent/format/cosign"
	_ "github.com/trust-agent/trust-agent/format/notation"
	_ "github.com/trust-agent/trust-agent/format/tuf"
)
