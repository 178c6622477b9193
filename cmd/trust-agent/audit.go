package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trust-agent/trust-agent/agent"
)

const auditSynopsis = "audit verify [FILE]"

// cmdAudit is `audit verify [FILE]`: it walks the audit log's hash chain
// and names the first line that was edited, deleted, reordered or cut
// short. FILE defaults to the audit.log beside $TRUST_AGENT_SOCK, which is
// where start puts it.
func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError(auditSynopsis)
	}
	fs := flags(e, "audit verify", auditSynopsis)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var file string
	switch fs.NArg() {
	case 0:
		sock := os.Getenv("TRUST_AGENT_SOCK")
		if sock == "" {
			return errors.New("no audit log named and TRUST_AGENT_SOCK is not set; give the log's path: trust-agent audit verify FILE")
		}
		file = filepath.Join(filepath.Dir(sock), "audit.log")
	case 1:
		file = fs.Arg(0)
	default:
		return usageError(auditSynopsis)
	}
	rep, err := agent.VerifyAuditLog(file)
	var ce *agent.AuditChainError
	if errors.As(err, &ce) {
		fail(e, fmt.Errorf("audit log %s: line %d: %s", file, ce.Line, ce.Reason),
			"the log was changed after the agent wrote it, or cut short: keep this copy as evidence, and compare it with a backup or with the last line's hash kept elsewhere")
		return silentError{code: 1}
	}
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(e.stderr, "trust-agent: note: audit log %s: %s\n", file, n)
	}
	fmt.Fprintf(e.stdout, "audit: %d lines, chain intact\n", rep.Lines)
	fmt.Fprintf(e.stdout, "audit: last line %s\n", rep.Head)
	return nil
}
