package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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
	// Facts are what a format's PayloadPolicy saw in a payload (artifact
	// digest, media type, reference), for sign-payload.
	Facts  map[string]string `json:"facts,omitempty"`
	Result string            `json:"result"`           // "ok" or "refused"
	Reason string            `json:"reason,omitempty"` // why the agent acted by itself ("lifetime expired")
	Error  string            `json:"error,omitempty"`
}

// Auditor records events. Record must not return before the event is
// durable: the agent replies only after it returns, and refuses to sign when
// it fails, so no signature exists that the log does not show.
type Auditor interface {
	Record(Event) error
}

// auditIO is what AuditFile needs of its file; *os.File is one. Tests put
// a file in front whose Write or Sync fails.
type auditIO interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
}

// AuditFile is an Auditor writing one JSON line per event to a file opened
// for appending with mode 0600. The lines form a hash chain (see
// VerifyAuditFile and docs/DESIGN.md, "Audit log").
//
// Record is safe to call from many goroutines and commits in groups: the
// first caller to find no commit under way writes every line queued so far
// in one write and fsyncs once, while later callers queue for the next
// group. When that commit ends with a group queued behind it, a flusher
// goroutine commits the queued groups one after another until none is
// left, so under load the disk never waits for a waiting caller to be
// scheduled, and a caller whose own group is on disk replies at once. A
// lone caller commits by itself, with no hand-off. Every Record returns
// only after its own line is on disk, with the error of the write and
// fsync that carried it.
//
// Before each group the file is checked: if the path no longer holds the
// open file (sed -i, mv, rm), or the file's size is not what the agent
// left (another writer, a truncation), the path is opened again and the
// group starts with an "audit-start" line that says so and links to the
// last line the agent wrote. If that fails, Record fails, and so does every
// request, until it succeeds. After a failed write or fsync the next group
// reopens the path and links to whatever the file ends with, saying why.
type AuditFile struct {
	path string
	open func(path string) (auditIO, error)

	mu     sync.Mutex
	cond   sync.Cond
	next   *auditBatch // the group the next committer takes
	busy   bool        // a committer (a caller or the flusher) is writing
	closed bool

	// Owned by the committer (busy) or by OpenAuditFile and Close.
	f      auditIO
	fi     os.FileInfo // f's, from attach: its device and inode for check
	size   int64       // the file's size after the agent's last write
	seq    uint64      // sequence number of the last line written
	head   string      // "sha256:<hex>" of the last line written
	broken error       // the last write or fsync failed: reopen first
	now    func() time.Time

	lastMu  sync.Mutex
	last    AuditHead    // a copy of path, seq and head for Head
	commits AuditCommits // for Commits
}

// AuditHead is where an audit log's chain stands: the file and the last
// line the agent wrote to it. Kept apart from the file (the agent's
// status carries it), it tells lines removed from the end of the log,
// which the chain alone cannot.
type AuditHead struct {
	Path string `json:"path"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // "sha256:<hex>" of the line's bytes
}

// Head returns the last line the agent wrote, as of the last commit.
func (a *AuditFile) Head() AuditHead {
	a.lastMu.Lock()
	defer a.lastMu.Unlock()
	return a.last
}

// AuditCommits counts an audit log's group commits that succeeded since
// the agent opened it, an "audit-start" line written on a reopen counting
// as one. Lines ÷ Commits is how many requests one fsync carried;
// SyncSeconds ÷ Commits is how long each commit's write and fsync took as
// the agent waited for them (its own scheduling included, so a little
// more than the disk's time), which bounds the rate of a client that signs
// alone. A commit that fails is not counted, nor its time, though its
// lines may have reached the file.
type AuditCommits struct {
	Commits     uint64  `json:"commits"`
	Lines       uint64  `json:"lines"`
	SyncSeconds float64 `json:"sync_seconds"`
}

// Commits returns the group commits so far.
func (a *AuditFile) Commits() AuditCommits {
	a.lastMu.Lock()
	defer a.lastMu.Unlock()
	return a.commits
}

// setHead records the lines just written, the last of them the chain's
// head.
func (a *AuditFile) setHead(seq uint64, head string, lines int, took time.Duration) {
	a.seq, a.head = seq, head
	a.lastMu.Lock()
	a.last = AuditHead{Path: a.path, Seq: seq, Hash: head}
	a.commits.Commits++
	a.commits.Lines += uint64(lines)
	a.commits.SyncSeconds += took.Seconds()
	a.lastMu.Unlock()
}

type auditBatch struct {
	events []Event
	done   bool
	err    error
}

// OpenAuditFile opens (or creates) path for appending, continues the hash
// chain from its last line and writes an "audit-start" line. A last line
// cut short (a crash mid-write) is kept as it is, and the start line says
// so. path must be a regular file (not a symbolic link) of mode 0600.
func OpenAuditFile(path string) (*AuditFile, error) {
	return openAuditFile(path, openAuditPath, time.Now)
}

func openAuditFile(path string, open func(string) (auditIO, error), now func() time.Time) (*AuditFile, error) {
	a := &AuditFile{path: path, open: open, now: now}
	a.cond.L = &a.mu
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	a.f = f
	if err := a.attach(reasonStarted, linkTail); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// openAuditPath opens path as the audit log: never through a symbolic
// link, never anything but a regular file, never one others can read.
func openAuditPath(path string) (auditIO, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("agent: audit log %s is a symbolic link; not following it: remove it or give --audit-log a real file", path)
		}
		return nil, fmt.Errorf("agent: opening audit log: %w", err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("agent: audit log %s: %w", path, err)
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("agent: audit log %s is not a regular file (%v); give --audit-log a file", path, fi.Mode().Type())
	case fi.Mode().Perm()&0o077 != 0:
		f.Close()
		return nil, fmt.Errorf("agent: audit log %s is readable or writable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	// The file may be new (first start, or after rm): its name is
	// durable only once the directory is synced.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("agent: audit log %s: syncing its directory: %w", path, err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// Record appends e, in a group with the events of concurrent callers, and
// returns once the group's fsync did.
func (a *AuditFile) Record(e Event) error {
	e = e.bounded()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("agent: audit log is closed")
	}
	b := a.next
	if b == nil {
		b = &auditBatch{}
		a.next = b
	}
	b.events = append(b.events, e)
	for !b.done {
		if a.busy {
			a.cond.Wait()
			continue
		}
		// No commit under way and ours not done: ours is still a.next
		// (a batch leaves a.next only with busy set, and is done when
		// busy is cleared). Commit it with everything queued in it.
		if a.closed { // closed while ours waited: never reopen the file
			a.next = nil
			b.done, b.err = true, errors.New("agent: audit log is closed")
			a.cond.Broadcast()
			break
		}
		a.busy = true
		a.commitNext()
		if a.next != nil && !a.closed {
			go a.flush() // busy stays set: the flusher is the committer now
		} else {
			a.busy = false
			a.cond.Broadcast()
		}
	}
	return b.err
}

// commitNext commits the queued group a.next and marks it done. It is
// called with a.mu held and busy set, and releases a.mu during the write.
func (a *AuditFile) commitNext() {
	b := a.next
	a.next = nil
	a.mu.Unlock()
	err := a.commit(b.events)
	a.mu.Lock()
	b.done, b.err = true, err
	a.cond.Broadcast()
}

// flush commits the groups that queue behind a commit, one after another,
// while any is queued; it runs with busy set and clears it when it stops.
// A waiting caller would commit the next group as well, but only once it
// is scheduled again; on a loaded machine that wait, between one fsync
// and the next, was a fifth of every cycle (measured with 8 clients).
func (a *AuditFile) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.next != nil && !a.closed {
		a.commitNext()
	}
	a.busy = false // a group left queued by Close fails in its caller's loop
	a.cond.Broadcast()
}

// commit writes events as one group and fsyncs. The caller is the only
// committer.
func (a *AuditFile) commit(events []Event) error {
	if err := a.check(); err != nil {
		return err
	}
	seq, head := a.seq, a.head
	var buf []byte
	for _, e := range events {
		seq++
		line, err := encodeLine(auditLine{Seq: seq, Prev: head, Event: e})
		if err != nil {
			return err
		}
		head = lineHash(line)
		buf = append(append(buf, line...), '\n')
	}
	begun := time.Now()
	if err := a.write(buf); err != nil {
		return err
	}
	a.setHead(seq, head, len(events), time.Since(begun))
	return nil
}

// write appends buf and fsyncs; on failure the file is marked broken so
// the next commit reopens it and says what happened.
func (a *AuditFile) write(buf []byte) error {
	n, err := a.f.Write(buf)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		a.broken = err
		return fmt.Errorf("agent: writing audit log %s: %w; the agent refuses requests until it can write there (disk full? file system read-only?)", a.path, err)
	}
	a.size += int64(n)
	return nil
}

// check makes sure the agent appends to the file at a.path, and that the
// file is as the agent left it; if not, it reopens and links (attach).
func (a *AuditFile) check() error {
	if a.broken != nil {
		if a.f != nil {
			a.f.Close()
			a.f = nil
		}
		return a.reopen(fmt.Sprintf("the agent's last write to this log failed (%v): lines before this one may be missing or cut short", a.broken), linkTail)
	}
	if a.f == nil {
		return a.reopen(fmt.Sprintf("the audit log %s was replaced or removed while the agent had it open, and the agent could not open it again until now; it refused requests meanwhile", a.path), linkReplaced)
	}
	// One lstat of the path answers both questions: the path still names
	// the open file when it has the device and inode that attach saw on
	// the open file (an inode is not reused while the agent holds it
	// open), and then the size lstat gives is the open file's.
	pfi, perr := os.Lstat(a.path)
	if perr != nil || !os.SameFile(pfi, a.fi) {
		a.f.Close()
		a.f = nil
		return a.reopen(fmt.Sprintf("the audit log %s was replaced or removed while the agent had it open (sed -i, mv, rm?); this line continues the chain of the file the agent was writing", a.path), linkReplaced)
	}
	if pfi.Size() != a.size {
		return a.attach(fmt.Sprintf("the audit log changed under the agent: %d bytes where the agent left %d (another process wrote to it or truncated it)", pfi.Size(), a.size), linkHead)
	}
	return nil
}

func (a *AuditFile) reopen(reason string, link attachLink) error {
	f, err := a.open(a.path)
	if err != nil {
		return fmt.Errorf("agent: audit log %s must be opened again (%s), and that failed: %w", a.path, clip(reason, 120), err)
	}
	a.f = f
	a.broken = nil
	if err := a.attach(reason, link); err != nil {
		return err
	}
	return nil
}

// attachLink says what an "audit-start" line links to.
type attachLink int

const (
	// linkTail links to the file's last line, whatever it is: a last line
	// that is not a whole record (cut short) is kept and named by its
	// length. An empty file starts a new chain from the nonce.
	linkTail attachLink = iota
	// linkHead links to the last line the agent wrote (a.head), whatever
	// the file now ends with: if the file was changed, the chain shows it
	// there.
	linkHead
	// linkReplaced is linkHead in a file that replaced the agent's.
	linkReplaced
)

// attach writes the "audit-start" line that begins or resumes the chain
// in a.f, with reason, linked as link says.
func (a *AuditFile) attach(reason string, link attachLink) error {
	fi, err := a.f.Stat()
	if err != nil {
		a.broken = err
		return fmt.Errorf("agent: audit log %s: %w", a.path, err)
	}
	a.fi = fi
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("agent: audit log nonce: %w", err)
	}
	start := &chainStart{Nonce: hex.EncodeToString(nonce[:]), Reason: reason, Replaced: link == linkReplaced && a.head != ""}
	var buf []byte
	seq, prev := a.seq+1, a.head
	a.size = fi.Size()
	if fi.Size() > 0 {
		last, err := readLastLine(a.f, fi.Size())
		if err != nil {
			a.broken = err
			return fmt.Errorf("agent: reading the end of audit log %s: %w", a.path, err)
		}
		if !last.newline {
			buf = append(buf, '\n')
		}
		if link == linkTail || a.head == "" {
			prev = last.hash
			if last.seq > 0 {
				seq = last.seq + 1
			} else {
				start.TornBytes = last.length
				seq = last.seqPrefix + 1
			}
		}
	}
	if prev == "" { // a new chain: the first line links to its own nonce
		if fi.Size() == 0 && link == linkTail {
			start.Reason = reasonNew
		}
		prev = lineHash(nonce[:])
	}
	line, err := encodeLine(auditLine{Seq: seq, Prev: prev, Event: Event{Time: a.now().UTC(), Op: opAuditStart, Result: "ok"}, Chain: start})
	if err != nil {
		return err
	}
	buf = append(append(buf, line...), '\n')
	begun := time.Now()
	if err := a.write(buf); err != nil {
		return err
	}
	a.setHead(seq, lineHash(line), 1, time.Since(begun))
	return nil
}

// Close waits for a commit under way and closes the file; Record fails
// after it, and so do Records queued behind that commit.
func (a *AuditFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true // before waiting: under load, commits would follow one another
	for a.busy {
		a.cond.Wait()
	}
	if a.f == nil {
		return nil
	}
	return a.f.Close()
}

// auditWriter adapts an io.Writer (tests, stderr) to Auditor; no fsync
// and no chain.
type auditWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *auditWriter) Record(e Event) error {
	line, err := encodeLine(auditLine{Event: e.bounded()})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = a.w.Write(append(line, '\n'))
	return err
}

// AuditTo returns an Auditor writing JSON lines to w without fsync and
// without the hash chain: for tests and logs, not for a record.
func AuditTo(w io.Writer) Auditor { return &auditWriter{w: w} }
