package hostile_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trust-agent/trust-agent/internal/hostile"
)

var update = flag.Bool("update", false, "rewrite the catalogue golden files from what the code answers now")

// checkGolden compares lines with the golden file name in testdata, or
// rewrites it with -update.
func checkGolden(t *testing.T, name string, lines []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got := strings.Join(lines, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with: go test -run Catalogue ./internal/hostile -update)", err)
	}
	wantLines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(want), "\n"), "\n") {
		n, _, _ := strings.Cut(l, ": ")
		wantLines[n] = l
	}
	for _, l := range lines {
		n, _, _ := strings.Cut(l, ": ")
		w, ok := wantLines[n]
		switch {
		case !ok:
			t.Errorf("%s is not in %s (add it with -update)", n, path)
		case w != l:
			t.Errorf("answer changed:\n got %s\nwant %s", l, w)
		}
		delete(wantLines, n)
	}
	for n := range wantLines {
		t.Errorf("%s in %s is no longer in the catalogue", n, path)
	}
}

// TestCatalogue sends every wire and policy input of the catalogue to a
// real agent, each on a fresh connection, and compares the exact code and
// message with testdata/catalogue.golden. Nothing may change: the token's
// keys and certificates are the same before and after, the audit chain is
// intact, and every input that reached the agent has an audit line
// (decode failures included: the socket branch reports them to
// agent.RefusalRecorder).
//
// The golden file was written from the code before issue 7's defences;
// after the merge the lead regenerates it (-update) and reads the diff:
// every line should become a refusal, none an ACCEPTED. Before the merge
// these fail, as they should: wire/sign-duplicate-key-id (strict request
// decoding, socket branch),
// policy/root-threshold-2-of-1, root-fifth-role and root-key-id-not-its-hash
// (whole-Root policy, policy branch), and the audit line count (socket and
// audit branches).
func TestCatalogue(t *testing.T) {
	e, tg := prepare(t)
	before := keySummary(t, e.path)
	lines0 := len(auditLines(t, e.audit))
	var out []string
	inputs := hostile.Catalogue()
	for _, in := range inputs {
		r := in.Run(tg)
		g := tg.Golden(in.Name, r)
		out = append(out, g)
		if r.Accepted {
			t.Errorf("%s was ACCEPTED", in.Name)
		}
	}
	checkGolden(t, "catalogue.golden", out)
	if d := diffKeys(before, keySummary(t, e.path)); d != "" {
		t.Errorf("the catalogue changed the token:\n%s", d)
	}
	// Reads (list, status) may be counted rather than logged.
	reads := 0
	for _, in := range inputs {
		if strings.HasPrefix(in.Name, "wire/list-") || strings.HasPrefix(in.Name, "wire/status-") {
			reads++
		}
	}
	if got := len(auditLines(t, e.audit)) - lines0; got < len(inputs)-reads {
		t.Errorf("%d inputs reached the agent, %d audit lines were written", len(inputs)-reads, got)
	}
	checkAuditChain(t, e.audit)
}
