package main

import (
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkAgentSign/direct-2         	   26000	     89886 ns/op
BenchmarkAgentSign/socket-2         	   20000	    118260 ns/op
P1: durable limit 2000/s
P1 0.93
BenchmarkP1-2   	       1	6532932993 ns/op
P3 0.95
P7 n/a (Notation/cosign not built yet)
`

// TestParse: headlines, details and ratios are read from one run; a
// measure that printed nothing is n/a, and a goal missed says so.
func TestParse(t *testing.T) {
	b, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"P1": "0.93", "P2": "n/a (no result: see .tmp/bench.txt)", "P7": "n/a (Notation/cosign not built yet)"} {
		if got := b.head(p); got != want {
			t.Errorf("head(%s) = %q; want %q", p, got, want)
		}
	}
	if met("P1", "0.93") != "yes" || met("P3", "0.95") != "no" || met("P7", "n/a") != "–" {
		t.Error("goals judged wrong")
	}
	if r := b.ratios(); !strings.Contains(r, "x1.32") || strings.Contains(r, "BenchmarkP1") {
		t.Errorf("ratios:\n%s", r)
	}
	doc := "# Perf\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\nfindings\n"
	out, err := rewrite([]byte(doc), b.document(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "old") || !strings.Contains(s, "| P1 | 0.93 | ≥ 0.85 | yes |") || !strings.HasSuffix(s, "<!-- bench:end -->\n\nfindings\n") || !strings.Contains(s, "Test CPU") {
		t.Errorf("document:\n%s", s)
	}
	if _, err := rewrite([]byte("no marks"), ""); err == nil {
		t.Error("a document without marks was rewritten")
	}
}
