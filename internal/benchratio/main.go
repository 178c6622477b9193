// Command benchratio reads the output of `make bench` (go test -bench) on
// stdin and prints:
//
//   - for every benchmark with sub-benchmarks, each one's time per operation
//     as a ratio to the first sub-benchmark of the same run;
//   - the detail lines of the measures P1 to P7 ("P3: …"), printed by
//     internal/bench;
//   - last, one line per measure, "P1 0.93" … "P7 n/a (…)", in order, for
//     scripts: a measure that printed no headline is "n/a (no result)".
//
// With -doc FILE it also rewrites the part of FILE between the lines
// "<!-- bench:begin -->" and "<!-- bench:end -->" with the table of the
// measures against their goals, the machine the run was on and the raw
// lines, so docs/PERFORMANCE.md always shows the last run. Every number
// compared was measured side by side in that one run.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op`)
	headLine  = regexp.MustCompile(`^(P[1-7]) (\S+)(?: (.*))?$`)
	detail    = regexp.MustCompile(`^(P[1-7]): (.*)$`)
	cpuLine   = regexp.MustCompile(`^cpu: (.*)$`)
)

// goal is what a measure must reach (issue 10).
type goal struct {
	what string
	le   bool // the value must be ≤ limit (else ≥)
	lim  float64
}

var goals = map[string]goal{
	"P1": {"signatures/s through the socket, audit log on ÷ the durable limit", false, 0.85},
	"P2": {"8 clients' signatures/s ÷ one client's, audit log on", false, 3},
	"P3": {"`trust-agent sign` of one tag ÷ notary CLI addhash+publish, whole processes", true, 0.8},
	"P4": {"most hardware signatures of one publish, 10 to 10,000 tags", true, 3},
	"P5": {"agent RSS after 100,000 signatures ÷ idle", true, 1.5},
	"P6": {"time of a 1 MiB payload ÷ a 1 KiB one through the socket", true, 10},
	"P7": {"a signature through the Notation/cosign plugins ÷ the same CLI with a file key", true, 1.3},
}

var order = []string{"P1", "P2", "P3", "P4", "P5", "P6", "P7"}

type result struct {
	sub string
	ns  float64
}

// run is what one `make bench` printed.
type run struct {
	groups  map[string][]result
	names   []string
	heads   map[string]string // "P3" → "0.74" or "n/a (…)"
	details map[string][]string
	cpu     string
}

func parse(r io.Reader) (*run, error) {
	b := &run{groups: map[string][]result{}, heads: map[string]string{}, details: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := detail.FindStringSubmatch(l); m != nil {
			b.details[m[1]] = append(b.details[m[1]], m[2])
			continue
		}
		if m := headLine.FindStringSubmatch(l); m != nil {
			b.heads[m[1]] = strings.TrimSpace(m[2] + " " + m[3])
			continue
		}
		if m := cpuLine.FindStringSubmatch(l); m != nil {
			b.cpu = strings.TrimSpace(m[1])
			continue
		}
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		name, sub := m[1], ""
		if i := strings.Index(name, "/"); i >= 0 {
			name, sub = name[:i], name[i+1:]
		}
		if strings.HasPrefix(name, "BenchmarkP") && sub == "" {
			continue // internal/bench's measures: their lines say it all
		}
		if _, ok := b.groups[name]; !ok {
			b.names = append(b.names, name)
		}
		b.groups[name] = append(b.groups[name], result{sub, ns})
	}
	return b, sc.Err()
}

// ratios is the table of sub-benchmarks, each as a ratio to the first.
func (b *run) ratios() string {
	var s strings.Builder
	for _, name := range b.names {
		rs := b.groups[name]
		if len(rs) < 2 {
			fmt.Fprintf(&s, "%s: %.0f ns/op (%.0f/s)\n", name, rs[0].ns, 1e9/rs[0].ns)
			continue
		}
		fmt.Fprintf(&s, "%s (ratios to %s):\n", name, rs[0].sub)
		for _, r := range rs {
			fmt.Fprintf(&s, "  %-24s %10.0f ns/op %9.0f/s  x%.2f\n", r.sub, r.ns, 1e9/r.ns, r.ns/rs[0].ns)
		}
	}
	return s.String()
}

// head is a measure's headline, "n/a (no result)" when it printed none.
func (b *run) head(p string) string {
	if h, ok := b.heads[p]; ok {
		return h
	}
	return "n/a (no result: see .tmp/bench.txt)"
}

// met says whether a headline meets its goal: "yes", "no" or "–".
func met(p, head string) string {
	v, err := strconv.ParseFloat(strings.Fields(head)[0], 64)
	if err != nil {
		return "–"
	}
	g := goals[p]
	if g.le && v <= g.lim || !g.le && v >= g.lim {
		return "yes"
	}
	return "no"
}

// machine describes where the run was, for the document.
func machine(cpu string) string {
	if cpu == "" {
		cpu = firstMatch("/proc/cpuinfo", "model name")
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("nproc %d; CPU %s; kernel %s; %s; SoftHSM %s; notary CLI and server %s; load average at the end %s",
		runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)), runtime.Version(),
		pkgVersion("softhsm2"), pkgVersion("notary"), strings.Join(strings.Fields(string(load))[:3], " "))
}

func firstMatch(path, key string) string {
	raw, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// pkgVersion is a Debian package's version, "unknown" without dpkg.
func pkgVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "unknown"
	}
	return string(out)
}

// document is the generated part of docs/PERFORMANCE.md.
func (b *run) document(now time.Time) string {
	var s strings.Builder
	fmt.Fprintf(&s, "Last run: %s. Machine: %s.\n\n", now.UTC().Format("2006-01-02 15:04 MST"), machine(b.cpu))
	s.WriteString("| measure | result | goal | met | what |\n|---|---|---|---|---|\n")
	for _, p := range order {
		g := goals[p]
		op := "≥"
		if g.le {
			op = "≤"
		}
		h := b.head(p)
		fmt.Fprintf(&s, "| %s | %s | %s %g | %s | %s |\n", p, h, op, g.lim, met(p, h), g.what)
	}
	s.WriteString("\nDetails, as the benchmarks printed them:\n\n```\n")
	for _, p := range order {
		for _, d := range b.details[p] {
			fmt.Fprintf(&s, "%s: %s\n", p, d)
		}
	}
	s.WriteString("```\n\nThe other benchmarks, each sub-benchmark as a ratio to the first:\n\n```\n")
	s.WriteString(b.ratios())
	s.WriteString("```\n")
	return s.String()
}

const (
	beginMark = "<!-- bench:begin -->"
	endMark   = "<!-- bench:end -->"
)

// rewrite replaces what is between the marks in doc with part.
func rewrite(doc []byte, part string) ([]byte, error) {
	i := bytes.Index(doc, []byte(beginMark))
	j := bytes.Index(doc, []byte(endMark))
	if i < 0 || j < i {
		return nil, errors.New("benchratio: the document has no " + beginMark + " … " + endMark + " section; add the two lines where the results go")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(beginMark)])
	out.WriteString("\n" + part)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

func main() {
	doc := flag.String("doc", "", "rewrite the results section of this Markdown file")
	flag.Parse()
	b, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio: reading the benchmark output:", err)
		os.Exit(1)
	}
	fmt.Print(b.ratios())
	for _, p := range order {
		for _, d := range b.details[p] {
			fmt.Printf("%s: %s\n", p, d)
		}
	}
	if *doc != "" {
		raw, err := os.ReadFile(*doc)
		if err == nil {
			raw, err = rewrite(raw, b.document(time.Now()))
		}
		if err == nil {
			err = os.WriteFile(*doc, raw, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchratio:", err)
			os.Exit(1)
		}
		fmt.Printf("benchratio: wrote the results to %s\n", *doc)
	}
	for _, p := range order {
		fmt.Printf("%s %s\n", p, b.head(p))
	}
}
