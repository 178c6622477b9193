// Command hostileclient runs issue 7's attacks and the catalogue of bad
// inputs against a running trust-agent, speaking the wire from
// docs/PROTOCOL.md alone (package internal/hostile). It generates keys on
// the agent's token: run it only against a throw-away token.
//
//	hostileclient [-sock PATH] [-run NAME,...] [-catalogue] [-idle N] [-stall N] [-pins N]
//
// It prints one line per attack and exits 1 when the agent accepted any.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/trust-agent/trust-agent/internal/hostile"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	flag := flag.NewFlagSet("hostileclient", flag.ContinueOnError)
	flag.SetOutput(stderr)
	sock := flag.String("sock", os.Getenv("TRUST_AGENT_SOCK"), "the agent's socket")
	gun := flag.String("gun", "example.com/hostile/app", "the repository the attacks' keys serve")
	other := flag.String("other-gun", "example.com/hostile/other", "another repository")
	only := flag.String("run", "", "comma-separated attack names (default: all; -list shows them)")
	list := flag.Bool("list", false, "list the attacks and exit")
	catalogue := flag.Bool("catalogue", false, "also send the catalogue of bad wire and policy inputs")
	idle := flag.Int("idle", 0, "open N idle connections, then time a status request")
	stall := flag.Int("stall", 0, "open N connections stalled in 16 MiB frames (1 MiB sent), then time a status request")
	pins := flag.Int("pins", 0, "send N wrong PINs (the agent must be locked) and show the answers")
	if err := flag.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, a := range hostile.Attacks() {
			fmt.Fprintf(stdout, "%-40s %s (defence: %s)\n", a.Name, a.What, a.Defence)
		}
		return 0
	}
	if *sock == "" {
		fmt.Fprintln(stderr, "hostileclient: no socket: set TRUST_AGENT_SOCK or pass -sock")
		return 2
	}
	failed := false
	if *pins > 0 {
		wrong := make([][]byte, *pins)
		for i := range wrong {
			wrong[i] = fmt.Appendf(nil, "wrong%04d", i)
		}
		start := time.Now()
		replies, err := hostile.GuessPINs(*sock, "", wrong)
		if err != nil {
			fmt.Fprintf(stderr, "hostileclient: %v\n", err)
			return 2
		}
		for i, r := range replies {
			fmt.Fprintf(stdout, "pin/%d: %s\n", i, r)
		}
		fmt.Fprintf(stdout, "pin: %d tries in %s\n", len(replies), time.Since(start).Round(time.Millisecond))
		return 0
	}
	if *idle > 0 || *stall > 0 {
		conns, err := hostile.Idle(*sock, *idle)
		if err == nil {
			var stalled []*hostile.Conn
			stalled, err = hostile.Stall(*sock, *stall, hostile.MaxFrameBytes, 1<<20)
			conns = append(conns, stalled...)
		}
		defer hostile.CloseAll(conns)
		if err != nil {
			fmt.Fprintf(stdout, "flood: the agent stopped accepting: %v\n", err)
		}
		d, err := hostile.Ping(*sock)
		fmt.Fprintf(stdout, "flood: %d idle, %d stalled: status answered in %s (err %v)\n", *idle, *stall, d.Round(time.Millisecond), err)
	}
	t, err := hostile.Prepare(*sock, *gun, *other)
	if err != nil {
		fmt.Fprintf(stderr, "hostileclient: %v (the agent must be unlocked)\n", err)
		return 2
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	for _, a := range hostile.Attacks() {
		if len(want) > 0 && !want[a.Name] {
			continue
		}
		r := a.Run(t)
		fmt.Fprintf(stdout, "%-40s %s\n", a.Name, r)
		if r.Accepted {
			if a.Open != "" {
				fmt.Fprintf(stdout, "%-40s (a known open hole: %s)\n", "", a.Open)
			}
			failed = true
		}
	}
	if *catalogue {
		for _, in := range hostile.Catalogue() {
			r := in.Run(t)
			fmt.Fprintln(stdout, t.Golden(in.Name, r))
			if r.Accepted {
				failed = true
			}
		}
	}
	if failed {
		return 1
	}
	return 0
}
