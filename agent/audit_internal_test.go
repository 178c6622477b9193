package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultyFile is an audit file whose Sync or Write can be made to fail, and
// whose Sync can be held until a test lets it go.
type faultyFile struct {
	*os.File
	mu       sync.Mutex
	syncErr  error
	failSync int // the next failSync Syncs fail with "input/output error"
	writeErr error
	syncs    int
	writes   int
	hold     chan struct{} // when set, the next Sync waits for it to close
	held     chan struct{} // closed when a Sync is waiting on hold
	delay    time.Duration // every Sync takes at least this long
}

func (f *faultyFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	err := f.writeErr
	f.writes++
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	f.mu.Lock()
	hold, held := f.hold, f.held
	f.hold = nil
	f.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	time.Sleep(f.delay)
	f.syncs++
	if f.syncErr != nil {
		return f.syncErr
	}
	if f.failSync > 0 {
		f.failSync--
		return errors.New("input/output error")
	}
	return f.File.Sync()
}

func (f *faultyFile) set(fn func(*faultyFile)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// openFaulty opens an AuditFile at dir/audit.log whose file is ff.
func openFaulty(t *testing.T, ff *faultyFile) (*AuditFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := openAuditFile(path, func(p string) (auditIO, error) {
		f, err := openAuditPath(p)
		if err != nil {
			return nil, err
		}
		ff.File = f.(*os.File)
		return ff, nil
	}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, path
}

func openLog(t *testing.T) (*AuditFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, path
}

func ev(i int) Event {
	return Event{Time: time.Unix(1700000000, 0).UTC(), Op: "sign", KeyID: fmt.Sprintf("key%d", i), Result: "ok"}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string, newline bool) {
	t.Helper()
	s := strings.Join(lines, "\n")
	if newline {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, path string, want int) AuditReport {
	t.Helper()
	rep, err := VerifyAuditLog(path)
	if err != nil || rep.Lines != want {
		t.Fatalf("VerifyAuditLog = %d lines, %v; want %d lines, intact\n%s", rep.Lines, err, want, strings.Join(readLines(t, path), "\n"))
	}
	return rep
}

// TestAuditChain: a log the agent wrote verifies, line by line linked.
func TestAuditChain(t *testing.T) {
	a, path := openLog(t)
	for i := range 5 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	rep := mustVerify(t, path, 6)
	lines := readLines(t, path)
	var first auditLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Op != opAuditStart || first.Chain == nil || first.Chain.Reason != reasonNew {
		t.Fatalf("first line %s: %v", lines[0], err)
	}
	for i := 1; i < len(lines); i++ {
		var l auditLine
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l.Prev != lineHash([]byte(lines[i-1])) || l.Seq != uint64(i+1) {
			t.Fatalf("line %d does not link to line %d: %s", i+1, i, lines[i])
		}
	}
	if rep.Head != lineHash([]byte(lines[5])) || len(rep.Notes) != 0 {
		t.Fatalf("report %+v", rep)
	}
	// A restart continues the chain with a start line.
	a.Close()
	b, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Record(ev(9)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, path, 8)
}

// TestAuditVerifyNamesTamperedLine attacks a written log as a local process
// with write access would, and checks that verify names the line.
func TestAuditVerifyNamesTamperedLine(t *testing.T) {
	a, path := openLog(t)
	for i := range 6 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	orig := readLines(t, path) // 7 lines: start, key0..key5
	type tamper struct {
		name     string
		edit     func([]string) ([]string, bool)
		line     int
		contains string
	}
	cases := []tamper{
		{"edited", func(l []string) ([]string, bool) {
			l[3] = strings.Replace(l[3], `"key2"`, `"key9"`, 1)
			return l, true
		}, 4, "edited"},
		{"edited refusal to ok", func(l []string) ([]string, bool) {
			l[2] = strings.Replace(l[2], `"result":"ok"`, `"result":"refused"`, 1)
			return l, true
		}, 3, "edited"},
		{"deleted", func(l []string) ([]string, bool) {
			return append(l[:3:3], l[4:]...), true
		}, 4, "deleted"},
		{"deleted two", func(l []string) ([]string, bool) {
			return append(l[:2:2], l[4:]...), true
		}, 3, "2 line(s) before it were deleted"},
		{"reordered", func(l []string) ([]string, bool) {
			l[3], l[4] = l[4], l[3]
			return l, true
		}, 4, "deleted or moved"},
		{"repeated", func(l []string) ([]string, bool) {
			return append(l[:4:4], append([]string{l[3]}, l[4:]...)...), true
		}, 5, "reordered or repeated"},
		{"truncated last line", func(l []string) ([]string, bool) {
			l[6] = l[6][:len(l[6])/2]
			return l, false
		}, 7, "cut short"},
		{"truncated middle line", func(l []string) ([]string, bool) {
			l[2] = l[2][:len(l[2])-5]
			return l, true
		}, 3, "not an audit record"},
		{"first line deleted", func(l []string) ([]string, bool) {
			return l[1:], true
		}, 1, "does not begin"},
		{"forged line appended", func(l []string) ([]string, bool) {
			return append(l, `{"seq":8,"prev":"sha256:00","op":"sign","result":"ok"}`), true
		}, 7, "edited"},
		{"unchained line inserted", func(l []string) ([]string, bool) {
			return append(l[:2:2], append([]string{`{"op":"sign","result":"ok"}`}, l[2:]...)...), true
		}, 3, "not an audit record"},
		{"emptied", func(l []string) ([]string, bool) { return nil, false }, 1, "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, nl := c.edit(append([]string(nil), orig...))
			writeLines(t, path, lines, nl)
			_, err := VerifyAuditFile(path)
			var ce *AuditChainError
			if !errors.As(err, &ce) || ce.Line != c.line || !strings.Contains(ce.Reason, c.contains) {
				t.Fatalf("VerifyAuditFile = %v; want line %d: …%s…", err, c.line, c.contains)
			}
		})
	}
	writeLines(t, path, orig, true)
	mustVerify(t, path, 7)
}

// TestAuditHeadDeletedUpToRestart: deleting every line before an "agent
// started" line leaves a log that begins with a start line, but one that
// links to a line before it.
func TestAuditHeadDeletedUpToRestart(t *testing.T) {
	a, path := openLog(t)
	a.Record(ev(0))
	a.Close()
	b, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Record(ev(1))
	b.Close()
	lines := readLines(t, path) // start, key0, start (agent started), key1
	writeLines(t, path, lines[2:], true)
	_, err = VerifyAuditFile(path)
	var ce *AuditChainError
	if !errors.As(err, &ce) || ce.Line != 1 || !strings.Contains(ce.Reason, "links to a line before it") {
		t.Fatalf("VerifyAuditFile = %v; want line 1: lines before it deleted", err)
	}
}

// TestAuditResumesAfterTornLine: a crash mid-write leaves a line cut short;
// the next start keeps it, says so, and the chain verifies.
func TestAuditResumesAfterTornLine(t *testing.T) {
	a, path := openLog(t)
	for i := range 3 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	lines := readLines(t, path)
	torn := lines[3][:20] // `{"seq":4,"prev":"sha`: seq 4 is taken
	lines[3] = torn
	writeLines(t, path, lines, false)
	b, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Record(ev(7)); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, path, 6)
	if len(rep.Notes) != 1 || !strings.HasPrefix(rep.Notes[0], "line 5: ") {
		t.Fatalf("notes %q; want one on line 5", rep.Notes)
	}
	var start auditLine
	if err := json.Unmarshal([]byte(readLines(t, path)[4]), &start); err != nil || start.Chain == nil || start.Chain.TornBytes != int64(len(torn)) || start.Seq != 5 {
		t.Fatalf("start line after the torn one: %+v %v", start, err)
	}
}

// TestAuditSyncErrorFailsRecord: the fsync's error reaches Record, so the
// request fails (caught the planted bug "the audit fsync's error
// ignored"); the next Record resumes the chain and says why.
func TestAuditSyncErrorFailsRecord(t *testing.T) {
	ff := &faultyFile{}
	a, path := openFaulty(t, ff)
	if err := a.Record(ev(0)); err != nil {
		t.Fatal(err)
	}
	ff.set(func(f *faultyFile) { f.syncErr = errors.New("input/output error") })
	err := a.Record(ev(1))
	if err == nil || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "refuses requests") {
		t.Fatalf("Record with a failing fsync = %v; want the fsync's error", err)
	}
	ff.set(func(f *faultyFile) { f.syncErr = nil; f.writeErr = errors.New("no space left on device") })
	if err := a.Record(ev(2)); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Record with a failing write = %v; want the write's error", err)
	}
	ff.set(func(f *faultyFile) { f.writeErr = nil })
	if err := a.Record(ev(3)); err != nil {
		t.Fatal(err)
	}
	// start, key0, key1 (written, not synced), resume, key3
	rep := mustVerify(t, path, 5)
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "last write to this log failed") {
		t.Fatalf("notes %q", rep.Notes)
	}
}

// TestAuditGroupCommit: Records that arrive while an fsync is under way
// share the next fsync, every one returns only after it, and an fsync
// error fails every Record of its group.
func TestAuditGroupCommit(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			ff := &faultyFile{}
			a, path := openFaulty(t, ff)
			hold, held := make(chan struct{}), make(chan struct{})
			ff.set(func(f *faultyFile) { f.hold, f.held, f.syncs = hold, held, 0 })
			first := make(chan error)
			go func() { first <- a.Record(ev(0)) }()
			<-held // the first group is in its fsync
			const n = 7
			var wg sync.WaitGroup
			errs := make([]error, n)
			returned := make(chan int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = a.Record(ev(i + 1))
					returned <- i
				}()
			}
			for queued := 0; queued < n; { // wait until all n are queued
				a.mu.Lock()
				queued = 0
				if a.next != nil {
					queued = len(a.next.events)
				}
				a.mu.Unlock()
				time.Sleep(time.Millisecond)
			}
			select {
			case i := <-returned:
				t.Fatalf("Record %d returned before its line was synced", i)
			default:
			}
			if fail {
				ff.set(func(f *faultyFile) { f.syncErr = errors.New("EIO") })
			}
			close(hold)
			if err := <-first; (err != nil) != fail {
				t.Fatalf("first Record = %v", err)
			}
			wg.Wait()
			for i, err := range errs {
				if (err != nil) != fail {
					t.Fatalf("Record %d of the second group = %v; want failed=%v", i+1, err, fail)
				}
			}
			ff.mu.Lock()
			syncs := ff.syncs
			ff.mu.Unlock()
			if syncs != 2 {
				t.Fatalf("%d fsyncs for two groups", syncs)
			}
			// The start line and the two groups, or the start line alone
			// when the groups' fsync failed: Commits counts the commits
			// that succeeded.
			want := AuditCommits{Commits: 3, Lines: 1 + 1 + n}
			if fail {
				want = AuditCommits{Commits: 1, Lines: 1}
			}
			if got := a.Commits(); got.Commits != want.Commits || got.Lines != want.Lines || got.SyncSeconds <= 0 {
				t.Fatalf("Commits() = %+v; want %d commits of %d lines and their time", got, want.Commits, want.Lines)
			}
			if !fail {
				mustVerify(t, path, 1+1+n)
			}
		})
	}
}

// recordConcurrently records each events from each of writers goroutines
// at once and returns when all have.
func recordConcurrently(t *testing.T, a *AuditFile, writers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := a.Record(ev(g*100 + i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestAuditConcurrentRecords: many writers, one intact chain.
func TestAuditConcurrentRecords(t *testing.T) {
	a, path := openLog(t)
	recordConcurrently(t, a, 16, 20)
	// Every Record returned, so every group is done, and the flusher that
	// committed the groups queued under load must have stopped.
	a.mu.Lock()
	busy, queued := a.busy, a.next != nil
	a.mu.Unlock()
	if busy || queued {
		t.Fatalf("after every Record returned: busy %v, a group queued %v; the flusher did not stop", busy, queued)
	}
	if err := a.Record(ev(9999)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, path, 1+16*20+1)
}

// replaceLikeSedI does what sed -i does: writes an edited copy beside the
// file and renames it over the path.
func replaceLikeSedI(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "sedXYZ")
	if err := os.WriteFile(tmp, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestAuditFileReplaced: the agent notices that the path holds another
// file, writes there (never to the deleted inode), and links across.
func TestAuditFileReplaced(t *testing.T) {
	t.Run("sed -i unchanged", func(t *testing.T) {
		a, path := openLog(t)
		a.Record(ev(0))
		replaceLikeSedI(t, path, func(b []byte) []byte { return b })
		for i := range 5 {
			if err := a.Record(ev(i + 1)); err != nil {
				t.Fatal(err)
			}
		}
		// start, key0, replaced start, key1..key5: all visible, linked.
		rep := mustVerify(t, path, 8)
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "line 3: the audit log") || !strings.Contains(rep.Notes[0], "replaced") {
			t.Fatalf("notes %q", rep.Notes)
		}
	})
	t.Run("sed -i edited", func(t *testing.T) {
		a, path := openLog(t)
		a.Record(ev(0))
		a.Record(ev(1))
		replaceLikeSedI(t, path, func(b []byte) []byte { return bytes.Replace(b, []byte(`"key1"`), []byte(`"key7"`), 1) })
		if err := a.Record(ev(2)); err != nil {
			t.Fatal(err)
		}
		_, err := VerifyAuditFile(path)
		var ce *AuditChainError
		if !errors.As(err, &ce) || ce.Line != 3 {
			t.Fatalf("VerifyAuditFile = %v; want line 3 (edited while replaced)", err)
		}
	})
	t.Run("rm", func(t *testing.T) {
		a, path := openLog(t)
		a.Record(ev(0))
		head := lineHash([]byte(readLines(t, path)[1]))
		os.Remove(path)
		if err := a.Record(ev(1)); err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, path)
		var start auditLine
		if err := json.Unmarshal([]byte(lines[0]), &start); err != nil || start.Chain == nil || !start.Chain.Replaced || start.Prev != head || start.Seq != 3 {
			t.Fatalf("first line of the new file does not link to the old chain: %s", lines[0])
		}
		mustVerify(t, path, 2)
	})
	t.Run("symlink to /dev/null", func(t *testing.T) {
		a, path := openLog(t)
		a.Record(ev(0))
		os.Remove(path)
		if err := os.Symlink(os.DevNull, path); err != nil {
			t.Fatal(err)
		}
		if err := a.Record(ev(1)); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("Record into a symlink = %v; want a refusal", err)
		}
		// Refused until the path holds a file again; then it links.
		os.Remove(path)
		if err := a.Record(ev(2)); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, path, 2)
	})
	t.Run("truncated under the agent", func(t *testing.T) {
		a, path := openLog(t)
		a.Record(ev(0))
		a.Record(ev(1))
		lines := readLines(t, path)
		writeLines(t, path, lines[:2], true) // same inode: os.WriteFile truncates
		if err := a.Record(ev(2)); err != nil {
			t.Fatal(err)
		}
		_, err := VerifyAuditFile(path)
		var ce *AuditChainError
		if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Reason, "changed under the agent") {
			t.Fatalf("VerifyAuditFile = %v; want line 2, with the agent's reason", err)
		}
	})
}

// TestAuditBoundedLine: a client's 4 MiB fields, and an error quoting
// them, write a line of a few KiB, with a marker of what was cut.
func TestAuditBoundedLine(t *testing.T) {
	a, path := openLog(t)
	k := New(Options{Audit: a})
	defer k.Close()
	big := strings.Repeat("a", 4<<20)
	ctrl := strings.Repeat("\x01", 4<<20)
	ctx := WithPeer(context.Background(), Peer{UID: 1, Exe: ctrl})
	k.Sign(ctx, SignRequest{KeyID: big, GUN: big, Role: ctrl, Data: []byte(big)})
	k.Generate(ctx, GenerateRequest{KeyMeta: KeyMeta{Role: RoleDelegation, Name: big, GUN: ctrl}})
	k.RecordRefused(ctx, ctrl, errors.New("socket: cannot decode "+ctrl))
	k.RecordRefused(ctx, "sign", errors.New("socket: cannot decode "+big))
	k.record(Event{Op: "sign", Metadata: &Metadata{Type: big, Targets: []string{big, big, ctrl, ctrl, ctrl, ctrl}}}, nil)
	lines := readLines(t, path)
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6", len(lines))
	}
	for i, l := range lines[1:] {
		if len(l) > maxAuditLine || !strings.Contains(l, "…[truncated ") {
			t.Fatalf("line %d is %d bytes (max %d), or has no truncation marker: %.300s", i+2, len(l), maxAuditLine, l)
		}
	}
	var signed Event
	if err := json.Unmarshal([]byte(lines[1]), &signed); err != nil {
		t.Fatal(err)
	}
	if len(signed.GUN) > maxAuditName || len(signed.GUN) < maxAuditName/2 || !strings.HasSuffix(signed.GUN, fmt.Sprintf("[truncated %d bytes]", len(big)-strings.Index(signed.GUN, "…"))) {
		t.Fatalf("GUN recorded as %q; want the first ~%d bytes and a marker", signed.GUN, maxAuditName)
	}
	mustVerify(t, path, 6)
}

// TestTruncate: the marker, the bound, UTF-8 boundaries, idempotence.
func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 1000) // 2000 bytes
	got := truncate(s, 100)
	if len(got) > 100 || !strings.HasSuffix(got, "bytes]") || !strings.HasPrefix(got, "éé") || truncate(got, 100) != got {
		t.Fatalf("truncate = %q", got)
	}
	if !strings.Contains(got, fmt.Sprintf("[truncated %d bytes]", 2000-strings.Index(got, "…"))) {
		t.Fatalf("marker counts wrong: %q", got)
	}
	if truncate("short", 100) != "short" {
		t.Fatal("short string changed")
	}
}

// TestAuditCloseWhileQueued: Records queued behind a commit when the log
// is closed fail, and the file is not opened again.
func TestAuditCloseWhileQueued(t *testing.T) {
	ff := &faultyFile{}
	a, path := openFaulty(t, ff)
	hold, held := make(chan struct{}), make(chan struct{})
	ff.set(func(f *faultyFile) { f.hold, f.held = hold, held })
	first := make(chan error)
	go func() { first <- a.Record(ev(0)) }()
	<-held
	second := make(chan error)
	go func() { second <- a.Record(ev(1)) }()
	for queued := false; !queued; {
		a.mu.Lock()
		queued = a.next != nil
		a.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error)
	go func() { closed <- a.Close() }()
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-closed
	if err := <-second; err == nil || !strings.Contains(err.Error(), "closed") {
		// Close may win the lock after the second commit: then it succeeded.
		if err != nil {
			t.Fatalf("queued Record after Close = %v", err)
		}
	}
	if err := a.Record(ev(2)); err == nil {
		t.Fatal("Record after Close succeeded")
	}
	mustVerify(t, path, len(readLines(t, path)))
}

// TestAuditEveryByteMatters: changing any byte of any line but the last
// (whose hash nothing in the file records) breaks the chain at or before
// the line after it.
func TestAuditEveryByteMatters(t *testing.T) {
	a, path := openLog(t)
	for i := range 4 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := bytes.LastIndexByte(orig[:len(orig)-1], '\n') // the last line starts after it
	for i := 0; i < last; i++ {
		if orig[i] == '\n' {
			continue
		}
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		line := bytes.Count(orig[:i], []byte{'\n'}) + 1
		_, err := verifyAudit(bytes.NewReader(b), nil)
		var ce *AuditChainError
		if !errors.As(err, &ce) || ce.Line > line+1 {
			t.Fatalf("byte %d (line %d) changed: verify = %v", i, line, err)
		}
	}
}

// FuzzVerifyAudit: any input gives an answer, never a panic; a break names
// a line that exists (or the one after the last), an intact log counts its
// lines.
func FuzzVerifyAudit(f *testing.F) {
	var buf bytes.Buffer
	l1, _ := encodeLine(auditLine{Seq: 1, Prev: lineHash(make([]byte, 32)), Event: Event{Op: opAuditStart, Result: "ok"}, Chain: &chainStart{Nonce: strings.Repeat("00", 32), Reason: reasonNew}})
	l2, _ := encodeLine(auditLine{Seq: 2, Prev: lineHash(l1), Event: ev(1)})
	buf.Write(l1)
	buf.WriteByte('\n')
	buf.Write(l2)
	buf.WriteByte('\n')
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"seq":1,"prev":"x","op":"audit-start","chain":{"nonce":"zz"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := verifyAudit(bytes.NewReader(data), nil)
		lines := bytes.Count(data, []byte{'\n'})
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		var ce *AuditChainError
		switch {
		case errors.As(err, &ce):
			if ce.Line < 1 || ce.Line > lines+1 {
				t.Fatalf("break at line %d of %d", ce.Line, lines)
			}
		case err != nil:
			t.Fatalf("not a chain error: %v", err)
		case rep.Lines != lines:
			t.Fatalf("intact log of %d lines counted %d", lines, rep.Lines)
		}
	})
}

// TestAuditHeadTellsRemovedTail: what the chain alone cannot tell (the
// last lines removed, the last line edited), the running agent's head can.
func TestAuditHeadTellsRemovedTail(t *testing.T) {
	a, path := openLog(t)
	for i := range 3 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	head := a.Head()
	if head.Path != path || head.Seq != 4 {
		t.Fatalf("Head = %+v", head)
	}
	rep, err := VerifyAuditLogHead(path, head)
	if err != nil || rep.HeadLine != 4 {
		t.Fatalf("VerifyAuditLogHead = %+v, %v", rep, err)
	}
	orig := readLines(t, path)
	for _, c := range []struct {
		name  string
		lines []string
		line  int
		says  string
	}{
		{"last line removed", orig[:3], 4, "lines were removed from its end"},
		{"last two removed", orig[:2], 3, "lines were removed from its end"},
		{"last line edited", append(orig[:3:3], strings.Replace(orig[3], `"key2"`, `"key7"`, 1)), 4, "edited: this is the running agent's last line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			writeLines(t, path, c.lines, true)
			if _, err := VerifyAuditFile(path); err != nil {
				t.Fatalf("the chain alone should not tell: %v", err)
			}
			_, err := VerifyAuditLogHead(path, head)
			var ce *AuditChainError
			if !errors.As(err, &ce) || ce.Line != c.line || !strings.Contains(ce.Reason, c.says) {
				t.Fatalf("VerifyAuditLogHead = %v; want line %d: …%s…", err, c.line, c.says)
			}
		})
	}
}

// TestAuditFlusherGroupFails: under load the flusher commits the queued
// groups, and an fsync error in one of them fails every Record of that
// group and no other: the group before it (committed by a caller) and
// the group after it (committed by the flusher after reopening the file)
// succeed, every Record returns, and the chain verifies across the gap.
func TestAuditFlusherGroupFails(t *testing.T) {
	ff := &faultyFile{}
	a, path := openFaulty(t, ff)
	hold1, held1 := make(chan struct{}), make(chan struct{})
	ff.set(func(f *faultyFile) { f.hold, f.held = hold1, held1 })
	first := make(chan error)
	go func() { first <- a.Record(ev(0)) }()
	<-held1 // group 1 in its fsync, by its caller
	queue := func(from, n int) (*sync.WaitGroup, []error) {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = a.Record(ev(from + i)) })
		}
		for queued := 0; queued < n; {
			a.mu.Lock()
			queued = 0
			if a.next != nil {
				queued = len(a.next.events)
			}
			a.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
		return &wg, errs
	}
	const n2, n3 = 5, 4
	wg2, errs2 := queue(1, n2)
	hold2, held2 := make(chan struct{}), make(chan struct{})
	ff.set(func(f *faultyFile) { f.hold, f.held = hold2, held2 })
	close(hold1)
	if err := <-first; err != nil {
		t.Fatalf("group 1: %v", err)
	}
	<-held2 // group 2 in its fsync, by the flusher
	wg3, errs3 := queue(1+n2, n3)
	ff.set(func(f *faultyFile) { f.failSync = 1 })
	close(hold2)
	wg2.Wait()
	wg3.Wait()
	for i, err := range errs2 {
		if err == nil || !strings.Contains(err.Error(), "input/output error") {
			t.Fatalf("Record %d of the failed group = %v; want its fsync's error", i, err)
		}
	}
	for i, err := range errs3 {
		if err != nil {
			t.Fatalf("Record %d of the group after the failed one = %v", i, err)
		}
	}
	a.mu.Lock()
	busy, queued := a.busy, a.next != nil
	a.mu.Unlock()
	if busy || queued {
		t.Fatalf("after every Record returned: busy %v, a group queued %v", busy, queued)
	}
	// start, group 1, group 2 (written, not synced), resume, group 3
	rep := mustVerify(t, path, 1+1+n2+1+n3)
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "last write to this log failed") {
		t.Fatalf("notes %q", rep.Notes)
	}
}

// TestAuditCommitsCounted: every commit that succeeded is counted with its
// lines and its time, the "audit-start" line of a reopen (the file
// replaced) or of a re-attach (the file changed under the agent) as one.
func TestAuditCommitsCounted(t *testing.T) {
	ff := &faultyFile{}
	a, path := openFaulty(t, ff)
	want := func(commits, lines uint64, atLeast time.Duration) {
		t.Helper()
		got := a.Commits()
		if got.Commits != commits || got.Lines != lines {
			t.Fatalf("Commits() = %+v; want %d commits of %d lines", got, commits, lines)
		}
		// The time accumulates, in seconds: at least the fsyncs' delays,
		// and not a thousand times more.
		if got.SyncSeconds < atLeast.Seconds() || got.SyncSeconds > 10*atLeast.Seconds()+1 {
			t.Fatalf("Commits().SyncSeconds = %v; want at least %v", got.SyncSeconds, atLeast)
		}
	}
	want(1, 1, 0) // the start line
	const delay = 20 * time.Millisecond
	ff.set(func(f *faultyFile) { f.delay = delay })
	for i := range 2 {
		if err := a.Record(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	want(3, 3, 2*delay)

	// Replaced: the reopen's start line, then the group.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ev(2)); err != nil {
		t.Fatal(err)
	}
	want(5, 5, 4*delay)

	// Written to by another process: the re-attach's start line, then the group.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not the agent's\n")
	f.Close()
	if err := a.Record(ev(3)); err != nil {
		t.Fatal(err)
	}
	want(7, 7, 6*delay)

	// A failed fsync counts nothing.
	ff.set(func(f *faultyFile) { f.syncErr = errors.New("input/output error") })
	if err := a.Record(ev(4)); err == nil {
		t.Fatal("Record with a failing fsync succeeded")
	}
	want(7, 7, 6*delay)
}

// TestAuditCommitsConcurrent: Commits and Head read while many goroutines
// record (run with -race), and at the end every line of the fresh log is
// counted once: the last line's sequence number is the lines counted.
func TestAuditCommitsConcurrent(t *testing.T) {
	a, _ := openLog(t)
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-done:
				return
			default:
			}
			c, h := a.Commits(), a.Head()
			if c.Commits > c.Lines || h.Seq == 0 {
				t.Errorf("while recording: Commits() = %+v, Head() = %+v", c, h)
				return
			}
		}
	}()
	recordConcurrently(t, a, 4, 25)
	close(done)
	<-polled
	c, h := a.Commits(), a.Head()
	if c.Lines != 1+4*25 || h.Seq != c.Lines || c.Commits < 2 || c.Commits > c.Lines {
		t.Fatalf("after 100 Records: Commits() = %+v, Head().Seq = %d; want 101 lines, the head's sequence number", c, h.Seq)
	}
}
