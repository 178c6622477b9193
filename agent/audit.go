package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Event is one audit record: a request the agent served or refused.
type Event struct {
	Time     time.Time `json:"time"`
	Op       string    `json:"op"` // "sign", "certify-root", "generate", "import", "unlock", "lock", "attest"
	Peer     *Peer     `json:"peer,omitempty"`
	KeyID    string    `json:"key_id,omitempty"`
	Role     string    `json:"role,omitempty"` // the TUF role asked for, else the key's role
	GUN      string    `json:"gun,omitempty"`
	Metadata *Metadata `json:"metadata,omitempty"`
	Result   string    `json:"result"`           // "ok" or "refused"
	Reason   string    `json:"reason,omitempty"` // why the agent acted by itself ("lifetime expired")
	Error    string    `json:"error,omitempty"`
}

// Auditor records events. Record must not return before the event is
// durable: the agent replies only after it returns, and refuses to sign when
// it fails, so no signature exists that the log does not show.
type Auditor interface {
	Record(Event) error
}

// AuditFile is an Auditor writing one JSON line per event to a file opened
// for appending with mode 0600, fsynced after every line.
type AuditFile struct {
	mu sync.Mutex
	f  *os.File
}

// OpenAuditFile opens (or creates) path for appending.
func OpenAuditFile(path string) (*AuditFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: opening audit log: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.Close()
		return nil, fmt.Errorf("agent: audit log %s is readable or writable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return &AuditFile{f: f}, nil
}

// Record appends e and fsyncs.
func (a *AuditFile) Record(e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("agent: encoding audit event: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(line); err != nil {
		return fmt.Errorf("agent: writing audit log: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("agent: syncing audit log: %w", err)
	}
	return nil
}

// Close closes the file.
func (a *AuditFile) Close() error { return a.f.Close() }

// auditWriter adapts an io.Writer (tests, stderr) to Auditor; no fsync.
type auditWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *auditWriter) Record(e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = a.w.Write(append(line, '\n'))
	return err
}

// AuditTo returns an Auditor writing JSON lines to w without fsync.
func AuditTo(w io.Writer) Auditor { return &auditWriter{w: w} }
