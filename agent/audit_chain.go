package agent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// opAuditStart is the op of the line that begins or resumes a chain.
const opAuditStart = "audit-start"

// auditLine is one line of an AuditFile: the event, where it stands in the
// chain, and, on an "audit-start" line, how the chain begins there.
//
//	{"seq":7,"prev":"sha256:<hex of line 6's bytes, without its newline>","time":…,"op":"sign",…}
type auditLine struct {
	Seq  uint64 `json:"seq,omitempty"`
	Prev string `json:"prev,omitempty"`
	Event
	Chain   *chainStart `json:"chain,omitempty"`
	Omitted string      `json:"omitted,omitempty"` // what bounding left out of an overlong line
}

// chainStart is what an "audit-start" line adds.
type chainStart struct {
	// Nonce is 32 random bytes in hex. The first line of a new log has
	// prev = sha256 of them: no one can prepare a log that the agent
	// would continue before the agent started it.
	Nonce string `json:"nonce"`
	// Reason says why a chain starts or resumes here: a new log, the
	// agent started, the file was replaced or changed, a write failed.
	Reason string `json:"reason"`
	// TornBytes, when set, says the line before this one is not a whole
	// record (a crash mid-write): this line links to its bytes as they are.
	TornBytes int64 `json:"torn_bytes,omitempty"`
	// Replaced says the file at the log's path was not the one the agent
	// had open: this line links to the last line the agent wrote to that
	// one, which, when the new file is an edited copy (sed -i), must be
	// the line above.
	Replaced bool `json:"replaced,omitempty"`
}

// lineHash is the chain's link to a line: "sha256:" and the hex SHA-256 of
// its bytes without the newline.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// encodeLine marshals l; a line longer than maxAuditLine (fields full of
// characters JSON escapes six-fold, a large Metadata) is bounded harder,
// and then loses its metadata, saying so.
func encodeLine(l auditLine) ([]byte, error) {
	line, err := json.Marshal(l)
	if err == nil && len(line) > maxAuditLine {
		l.Event = l.Event.boundedTo(escapeFactor)
		line, err = json.Marshal(l)
		if err == nil && len(line) > maxAuditLine && l.Metadata != nil {
			l.Metadata = nil
			l.Omitted = "metadata: the line would be longer than " + strconv.Itoa(maxAuditLine) + " bytes"
			line, err = json.Marshal(l)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("agent: encoding audit event: %w", err)
	}
	return line, nil
}

// lastLine is what the end of an audit log holds.
type lastLine struct {
	hash      string // lineHash of its bytes
	length    int64
	newline   bool   // it ends with a newline
	seq       uint64 // its seq when it is a whole chained record, else 0
	seqPrefix uint64 // the seq a cut-short line began with, if readable
}

// maxParsedLine is the longest line the chain code parses; longer lines
// are hashed but never records (the agent writes none).
const maxParsedLine = 64 << 10

// readLastLine finds the last line of a file of size bytes (> 0), reading
// backwards, and hashes it; memory stays bounded however long it is.
func readLastLine(f io.ReaderAt, size int64) (lastLine, error) {
	var ll lastLine
	end := size
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil {
		return ll, err
	}
	if b[0] == '\n' {
		ll.newline = true
		end--
	}
	start := int64(0)
	buf := make([]byte, 32<<10)
scan:
	for off := end; off > 0; {
		n := min(int64(len(buf)), off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return ll, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start = off + int64(i) + 1
			break scan
		}
	}
	ll.length = end - start
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, start, ll.length)); err != nil {
		return ll, err
	}
	ll.hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if ll.length <= maxParsedLine {
		line := make([]byte, ll.length)
		if _, err := f.ReadAt(line, start); err != nil {
			return ll, err
		}
		var rec chainRecord
		if json.Unmarshal(line, &rec) == nil && rec.Seq != nil && *rec.Seq > 0 {
			ll.seq = *rec.Seq
		} else if p := bytes.TrimPrefix(line, []byte(`{"seq":`)); len(p) < len(line) {
			i := 0
			for i < len(p) && i < 20 && p[i] >= '0' && p[i] <= '9' {
				i++
			}
			ll.seqPrefix, _ = strconv.ParseUint(string(p[:i]), 10, 64)
		}
	}
	return ll, nil
}

// chainRecord is what the verifier reads of a line.
type chainRecord struct {
	Seq   *uint64     `json:"seq"`
	Prev  string      `json:"prev"`
	Op    string      `json:"op"`
	Chain *chainStart `json:"chain"`
}

// AuditChainError names the first line of an audit log where the chain
// breaks: that line, or the lines before it, were edited, deleted,
// reordered, or cut short.
type AuditChainError struct {
	Line   int    // 1-based line number in the file
	Reason string // what is wrong there
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("agent: audit log line %d: %s", e.Line, e.Reason)
}

// AuditReport is what VerifyAuditLog found in an intact log.
type AuditReport struct {
	Lines int
	// Head is the hash of the last line ("sha256:<hex>"). Kept elsewhere,
	// it proves later that no line was removed from the end or edited
	// there, which the chain alone cannot.
	Head string
	// Notes name the lines where the agent resumed the chain after
	// something happened to the file (replaced, a line cut short by a
	// crash, a failed write), with the agent's reason.
	Notes []string
	// HeadLine is the line that VerifyAuditLogHead's head names.
	HeadLine int
}

// VerifyAuditFile walks the hash chain of the audit log at path and
// returns how many lines it holds. The first line where the chain breaks
// is returned as an *AuditChainError.
//
// The chain proves the order and content of every line up to the last
// one: the last line itself, or lines removed from the end, can be told
// only against a copy of the last line's hash kept elsewhere
// (AuditReport.Head). A line cut short by a crash is accepted when the
// agent's next "audit-start" line names it.
func VerifyAuditFile(path string) (lines int, err error) {
	r, err := VerifyAuditLog(path)
	return r.Lines, err
}

// VerifyAuditLog is VerifyAuditFile with the head hash and the notes.
func VerifyAuditLog(path string) (AuditReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditReport{}, fmt.Errorf("agent: reading audit log: %w", err)
	}
	defer f.Close()
	return verifyAudit(f, nil)
}

// VerifyAuditLogHead is VerifyAuditLog that also requires the line head
// names (a running agent's last line, from its status) to be in the log
// unchanged: lines removed from the end, or a last line edited, show.
func VerifyAuditLogHead(path string, head AuditHead) (AuditReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditReport{}, fmt.Errorf("agent: reading audit log: %w", err)
	}
	defer f.Close()
	return verifyAudit(f, &head)
}

func verifyAudit(r io.Reader, want *AuditHead) (AuditReport, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		rep      AuditReport
		n        int    // lines read
		prevHash string // hash of line n-1
		prevLen  int64
		prevSeq  uint64
		prevBad  bool // line n-1 is not a record: only a start line naming it may follow
	)
	fail := func(line int, format string, args ...any) (AuditReport, error) {
		rep.Lines = n
		return rep, &AuditChainError{Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	for {
		line, length, hash, newline, err := readLine(br)
		if err != nil {
			return rep, fmt.Errorf("agent: reading audit log: %w", err)
		}
		if length == 0 && !newline { // end of file
			break
		}
		n++
		var rec chainRecord
		parsed := line != nil && json.Unmarshal(line, &rec) == nil && rec.Seq != nil && *rec.Seq > 0 && rec.Prev != ""
		start := parsed && rec.Op == opAuditStart && rec.Chain != nil
		if prevBad && (!start || rec.Chain.TornBytes != prevLen || rec.Prev != prevHash) {
			return fail(n-1, "not an audit record: edited, or cut short (%d bytes)", prevLen)
		}
		switch {
		case !parsed && !newline:
			return fail(n, "cut short: the last line is not a whole record (%d bytes); the file was truncated, or the agent stopped mid-write and has not started since", length)
		case !parsed:
			prevBad = true
		case n == 1:
			if !start {
				return fail(1, "the log does not begin with an %q line: lines before it were deleted, or trust-agent did not write it", opAuditStart)
			}
			nonce, err := hex.DecodeString(rec.Chain.Nonce)
			if err != nil || len(nonce) != 32 {
				return fail(1, "the %q line has no 32-byte nonce", opAuditStart)
			}
			// A new log's first line links to its own nonce; one that
			// links elsewhere continues the log the agent had open
			// before this file replaced it, and says so.
			if rec.Prev != lineHash(nonce) && !rec.Chain.Replaced {
				return fail(1, "the first line links to a line before it: lines before it were deleted")
			}
		case prevBad:
			prevBad = false // the start line names the cut-short line above
		case rec.Prev != prevHash && start:
			// The agent resumed after something happened to the file;
			// its reason is the best account of what.
			return fail(n-1, "line %d resumes the chain (%s) from another line than this one: this line was edited, or lines after the agent's last one were removed or added", n, clip(rec.Chain.Reason, 200))
		case *rec.Seq > prevSeq+1:
			return fail(n, "sequence number %d where %d was expected: %d line(s) before it were deleted or moved", *rec.Seq, prevSeq+1, *rec.Seq-prevSeq-1)
		case *rec.Seq <= prevSeq:
			return fail(n, "sequence number %d after %d: lines were reordered or repeated", *rec.Seq, prevSeq)
		case rec.Prev != prevHash:
			return fail(n-1, "edited: its hash is not the one line %d records", n)
		}
		if start && (n == 1 && rec.Chain.Replaced || rec.Chain.TornBytes > 0 || rec.Chain.Reason != reasonStarted && rec.Chain.Reason != reasonNew) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("line %d: %s", n, clip(rec.Chain.Reason, 300)))
		}
		if parsed && want != nil && *rec.Seq == want.Seq {
			if hash != want.Hash {
				return fail(n, "edited: this is the running agent's last line (seq %d), and the agent wrote %s, not this", want.Seq, want.Hash)
			}
			rep.HeadLine = n
		}
		if parsed {
			prevSeq = *rec.Seq
		}
		prevHash, prevLen = hash, length
	}
	if prevBad {
		return fail(n, "not an audit record: edited, or cut short (%d bytes)", prevLen)
	}
	if n == 0 {
		return fail(1, "the log is empty: the agent writes a first line when it opens a log, so it was emptied")
	}
	if want != nil && rep.HeadLine == 0 {
		return fail(n+1, "missing: the running agent's last line (seq %d, %s) is not in the file, which ends at seq %d: lines were removed from its end", want.Seq, want.Hash, prevSeq)
	}
	rep.Lines, rep.Head = n, prevHash
	return rep, nil
}

// Reasons of the start lines that need no note.
const (
	reasonNew     = "new audit log"
	reasonStarted = "agent started"
)

func clip(s string, max int) string { return truncate(s, max) }

// readLine reads one line, hashing all of it but keeping at most
// maxParsedLine bytes (nil when longer).
func readLine(br *bufio.Reader) (line []byte, length int64, hash string, newline bool, err error) {
	h := sha256.New()
	var kept []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			chunk, newline = chunk[:len(chunk)-1], true
		}
		h.Write(chunk)
		length += int64(len(chunk))
		if length <= maxParsedLine {
			kept = append(kept, chunk...)
		}
		switch {
		case err == nil || errors.Is(err, io.EOF):
			if length > maxParsedLine {
				kept = nil
			}
			return kept, length, "sha256:" + hex.EncodeToString(h.Sum(nil)), newline, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, 0, "", false, err
		}
	}
}
