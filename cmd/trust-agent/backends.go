package main

// The backends this binary serves: each registers its URI scheme with
// package agent/backend in init (see docs/DESIGN.md, "Adding a backend").
import (
	_ "github.com/trust-agent/trust-agent/piv"
	_ "github.com/trust-agent/trust-agent/pkcs11"
)
