// Command benchratio reads `go test -bench` output on stdin and prints, for
// every benchmark with sub-benchmarks, each one's time per operation as a
// ratio to the first sub-benchmark of the same run: the numbers compared
// were measured side by side on the same machine, minutes apart at most.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op`)

type result struct {
	sub string
	ns  float64
}

func main() {
	groups := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
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
		if _, ok := groups[name]; !ok {
			order = append(order, name)
		}
		groups[name] = append(groups[name], result{sub, ns})
	}
	for _, name := range order {
		rs := groups[name]
		if len(rs) < 2 {
			fmt.Printf("%s: %.0f ns/op (%.0f/s)\n", name, rs[0].ns, 1e9/rs[0].ns)
			continue
		}
		fmt.Printf("%s (ratios to %s):\n", name, rs[0].sub)
		for _, r := range rs {
			fmt.Printf("  %-24s %10.0f ns/op %9.0f/s  x%.2f\n", r.sub, r.ns, 1e9/r.ns, r.ns/rs[0].ns)
		}
	}
}
