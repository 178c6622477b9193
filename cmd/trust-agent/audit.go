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
// where start puts it. When the agent at $TRUST_AGENT_SOCK writes FILE,
// its last line must be there too.
func cmdAuditVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit verify", auditSynopsis)
	if err := fs.Parse(args); err != nil {
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
	// A running agent knows its last line: with it, lines removed from
	// the end of its log show too, which the chain alone cannot tell.
	var head *agent.AuditHead
	if c, err := dialAgent(); err == nil {
		if st, err := c.Status(ctx); err == nil && st.Audit != nil && sameFile(st.Audit.Path, file) {
			head = st.Audit
		}
		c.Close()
	}
	var rep agent.AuditReport
	var err error
	if head != nil {
		rep, err = agent.VerifyAuditLogHead(file, *head)
	} else {
		rep, err = agent.VerifyAuditLog(file)
	}
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
	if head != nil {
		fmt.Fprintf(e.stdout, "audit: the running agent's last line (seq %d) is line %d\n", head.Seq, rep.HeadLine)
	}
	fmt.Fprintf(e.stdout, "audit: last line %s\n", rep.Head)
	return nil
}

// sameFile reports whether a and b name one file: the same path, or the
// same inode (a symbolic link on the way, a relative path).
func sameFile(a, b string) bool {
	if aa, err := filepath.Abs(a); err == nil {
		if bb, err := filepath.Abs(b); err == nil && aa == bb {
			return true
		}
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
