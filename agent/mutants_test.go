package agent

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// Tests that tell a planted bug from the fix (scripts/mutants.sh; SECURITY.md,
// "Planted bugs"): each case below failed on one mutation that the rest of
// the package's tests let through.

// TestAuditRecordBoundsItself: AuditFile bounds what it writes whoever
// calls it, not only when the Keyring bounded the event first (B5).
func TestAuditRecordBoundsItself(t *testing.T) {
	a, path := openLog(t)
	defer a.Close()
	big := strings.Repeat("g", 1<<20)
	if err := a.Record(Event{Op: "sign", Result: "refused", GUN: big, Error: big}); err != nil {
		t.Fatal(err)
	}
	// A GUN of 1 KiB fits in a line; it is cut to maxAuditName all the same.
	mid := strings.Repeat("m", 4*maxAuditName)
	if err := a.Record(Event{Op: "sign", Result: "refused", GUN: mid}); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if l := lines[len(lines)-2]; len(l) > maxAuditLine || !strings.Contains(l, "…[truncated ") {
		t.Fatalf("a 1 MiB field wrote a %d-byte line (max %d)", len(l), maxAuditLine)
	}
	var e Event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.GUN) > maxAuditName || !strings.Contains(e.GUN, "…[truncated ") {
		t.Fatalf("a %d-byte GUN was recorded as %d bytes (max %d)", len(mid), len(e.GUN), maxAuditName)
	}
}

// TestAuditAppendUnderAgentNamed: a line another process appends to the
// running agent's log is named, with the agent's own account of it, not
// only by the chain (B3).
func TestAuditAppendUnderAgentNamed(t *testing.T) {
	a, path := openLog(t)
	defer a.Close()
	a.Record(ev(0))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"prev":"sha256:00","op":"sign","result":"ok"}` + "\n")
	f.Close()
	if err := a.Record(ev(1)); err != nil {
		t.Fatal(err)
	}
	// start, key0, the foreign line, the agent's line saying what it
	// found, key1; verify names the foreign line's predecessor as edited.
	lines := readLines(t, path)
	if len(lines) != 5 || !strings.Contains(lines[3], "changed under the agent") {
		t.Fatalf("the agent did not say the log changed under it:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := VerifyAuditFile(path); err == nil {
		t.Fatal("VerifyAuditFile accepted a log with a foreign line")
	}
}

// TestAuditTruncatedTailSaysTruncated: a log cut mid-line is reported as
// truncated, not as an edited line (B11).
func TestAuditTruncatedTailSaysTruncated(t *testing.T) {
	a, path := openLog(t)
	a.Record(ev(0))
	a.Close()
	lines := readLines(t, path)
	lines[1] = lines[1][:len(lines[1])/2]
	writeLines(t, path, lines, false)
	_, err := VerifyAuditFile(path)
	var ce *AuditChainError
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Reason, "the file was truncated") {
		t.Fatalf("VerifyAuditFile = %v; want line 2: the file was truncated", err)
	}
}
