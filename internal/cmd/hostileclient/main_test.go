package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/hostile"
)

// TestList names every attack with its defence, and a missing socket is a
// usage error rather than a run against nothing.
func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-list"}, &out, &errb); code != 0 {
		t.Fatalf("-list: exit %d: %s", code, errb.String())
	}
	for _, a := range hostile.Attacks() {
		if !strings.Contains(out.String(), a.Name) || !strings.Contains(out.String(), a.Defence) {
			t.Errorf("-list does not show %s with its defence", a.Name)
		}
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"-sock", ""}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "TRUST_AGENT_SOCK") {
		t.Fatalf("no socket: exit %d, %q", code, errb.String())
	}
}
