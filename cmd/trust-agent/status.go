package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/daemon"
	"github.com/trust-agent/trust-agent/internal/secretfile"
	"github.com/trust-agent/trust-agent/internal/trust"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "status", "status [--json|--metrics]")
	asJSON := fs.Bool("json", false, "print JSON")
	asMetrics := fs.Bool("metrics", false, "print the counters in the Prometheus text format")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if *asMetrics {
		daemon.WritePrometheus(e.stdout, st)
		return nil
	}
	locked := 0
	for _, b := range st.Backends {
		if b.Locked {
			locked++
		}
	}
	state := "unlocked"
	switch {
	case locked > 0 && locked == len(st.Backends):
		state = "locked"
	case locked > 0:
		state = fmt.Sprintf("partly locked (%d of %d backends)", locked, len(st.Backends))
	}
	fmt.Fprintf(e.stdout, "Agent pid %d, %s, up %s\n", st.PID, state, time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(e.stdout, "Signatures: %d served, %d refused\n", st.Signatures, st.Refusals)
	if !st.LockAt.IsZero() {
		fmt.Fprintf(e.stdout, "Locks itself at %s\n", st.LockAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(e.stdout, "Backends:")
	if len(st.Backends) == 0 {
		fmt.Fprintln(e.stdout, "  none")
	}
	for _, b := range st.Backends {
		state := "unlocked"
		if b.Locked {
			state = "locked"
		}
		fmt.Fprintf(e.stdout, "  %s (%s): %s, %d keys", b.Name, b.Kind, state, b.Keys)
		if b.Error != "" {
			fmt.Fprintf(e.stdout, ", error: %s", b.Error)
		}
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(e.stdout, "    can: "+abilitiesText(b.Abilities))
	}
	if keys, err := c.List(ctx); err == nil {
		for _, w := range custodyWarnings(keys, trust.Options{}, time.Now()) {
			fmt.Fprintln(e.stdout, "Warning: "+w)
		}
	}
	return nil
}

// renewWithin is how early status warns about expiring metadata: notary
// warns six months ahead too.
const renewWithin = 183 * 24 * time.Hour

// custodyWarnings are status's warnings about root keys: one held by a
// single backend (lost with it, and with it the repositories it serves),
// and a repository whose cached metadata expires within six months, each
// with the command that fixes it.
func custodyWarnings(keys []agent.KeyInfo, o trust.Options, now time.Time) []string {
	backends := map[string][]string{}
	var roots []agent.KeyInfo
	for _, k := range keys {
		if k.Role != agent.RoleRoot {
			continue
		}
		if backends[k.ID] == nil {
			roots = append(roots, k)
		}
		backends[k.ID] = append(backends[k.ID], k.Backend)
	}
	var out []string
	for _, k := range roots {
		var repos []string
		seen := map[string]bool{}
		for _, c := range k.Certs {
			if !seen[c.GUN] {
				seen[c.GUN] = true
				repos = append(repos, c.GUN)
			}
		}
		if len(repos) == 0 {
			continue
		}
		if len(backends[k.ID]) == 1 {
			out = append(out, fmt.Sprintf("root key %s of %s lives on %s only: if that token is lost, so is the repositories' root of trust; move it onto two tokens: trust-agent key rotate root %s --backend %s --copy-to OTHER-BACKEND",
				shortKeyID(k.ID), strings.Join(repos, ", "), k.Backend, repos[0], k.Backend))
		}
		for _, gun := range repos {
			exp, err := trust.CachedExpiry(trust.CachedExpiryOptions{Options: o, GUN: gun})
			if err != nil {
				continue
			}
			for _, role := range []string{"root", "targets", "snapshot"} {
				t, ok := exp[role]
				if !ok || t.Sub(now) > renewWithin {
					continue
				}
				fix := "trust-agent key rotate " + role + " " + gun
				if role == "snapshot" {
					fix = "trust-agent key rotate snapshot " + gun + " -r (or sign a tag: a publish renews it)"
				}
				out = append(out, fmt.Sprintf("%s's %s metadata expires on %s; renew it: %s", gun, role, t.UTC().Format(time.DateOnly), fix))
			}
		}
	}
	return out
}

func shortKeyID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func cmdLock(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "lock", "lock")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Lock(ctx); err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "Agent locked.")
	return nil
}

const unlockSynopsis = "unlock [--pin-file FILE] [--backend NAME]"

func cmdUnlock(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "unlock", unlockSynopsis)
	pinFile := fs.String("pin-file", "", "read the PIN from FILE instead of prompting")
	backend := fs.String("backend", "", "`NAME` of the backend to unlock, as trust-agent status names it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(unlockSynopsis)
	}
	c, err := dialAgent()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var locked []agent.BackendStatus
	for _, b := range st.Backends {
		if b.Locked && (*backend == "" || b.Name == *backend) {
			locked = append(locked, b)
		}
	}
	if len(locked) == 0 {
		if *backend != "" {
			return fmt.Errorf("backend %s is not locked or does not exist", *backend)
		}
		fmt.Fprintln(e.stderr, "Agent is not locked.")
		return nil
	}
	if *pinFile != "" && len(locked) > 1 {
		return fmt.Errorf("%d backends are locked and --pin-file gives one PIN; name one with --backend", len(locked))
	}
	for _, b := range locked {
		pin, err := readPIN(*pinFile, fmt.Sprintf("PIN for %s: ", b.Name))
		if err != nil {
			return err
		}
		err = c.Unlock(ctx, agent.UnlockRequest{Backend: b.Name, PIN: pin})
		clear(pin)
		if err != nil {
			return fmt.Errorf("unlocking %s: %w", b.Name, err)
		}
		fmt.Fprintf(e.stderr, "Unlocked %s.\n", b.Name)
	}
	return nil
}

// maxPINFileBytes caps what readPIN reads of a PIN file: a PIN is a few
// dozen bytes, a larger file is a mistake.
const maxPINFileBytes = 4 << 10

// readPIN reads a PIN from a file (one trailing newline trimmed), else
// through pinentry when there is one (TRUST_AGENT_PINENTRY, or pinentry
// on PATH, as gpg-agent asks), else from the terminal without echo. It never looks at argv or the environment. A
// file that group or others may read or write is refused, as key files are:
// its PIN is as good as known.
func readPIN(file, prompt string) ([]byte, error) {
	if file != "" {
		return readSecretFile(file, "PIN")
	}
	if program := pinentryProgram(); program != "" {
		return pinentryGetPIN(program, "trust-agent: "+strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(prompt), ":")), "PIN")
	}
	return promptSecret(prompt, "--pin-file")
}

// readSecretFile reads a secret (what: "PIN", "passphrase") from a file
// only its owner can read, one trailing newline trimmed.
func readSecretFile(file, what string) ([]byte, error) {
	return secretfile.Read(file, what, maxPINFileBytes)
}

// abilitiesText says what a backend can do beyond signing, from its
// Abilities: "attest, touch, policies, import; ecdsa; one root key".
func abilitiesText(a agent.Abilities) string {
	var can []string
	for _, c := range []struct {
		ok   bool
		name string
	}{{a.Attest, "attest"}, {a.Touch, "touch"}, {a.Policy, "policies"}, {a.Delete, "delete"}, {a.Import, "import"}} {
		if c.ok {
			can = append(can, c.name)
		}
	}
	out := strings.Join(can, ", ")
	if out == "" {
		out = "sign only"
	}
	if len(a.Algorithms) > 0 {
		out += "; " + strings.Join(a.Algorithms, ", ")
	}
	if a.MaxRootKeys > 0 {
		out += fmt.Sprintf("; at most %d root key(s)", a.MaxRootKeys)
	}
	return out
}
