package hostile_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	canonical "github.com/docker/go/canonical/json"

	"github.com/trust-agent/trust-agent/internal/hostile"
)

// TestClientUsesProtocolOnly keeps the hostile client honest: it must not
// import package socket (or anything that does), or it would share the
// server's decoder and its blind spots.
func TestClientUsesProtocolOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/trust-agent/trust-agent/") {
				t.Errorf("%s imports %s: the hostile client speaks the wire from docs/PROTOCOL.md alone", name, p)
			}
		}
	}
}

// TestGoodRootSigned is the control for the Root attacks: the Root that
// `signer add` writes for a new repository (agent-held root, targets and
// snapshot keys, a server's timestamp key) is signed, with no prompt. So
// each Root attack is refused for the one thing it changes.
func TestGoodRootSigned(t *testing.T) {
	_, tg := prepare(t)
	// The client computes notary's key IDs as the agent does.
	for _, k := range []hostile.KeyInfo{tg.Targets, tg.Snapshot, tg.Root} {
		if id := hostile.KeyFromInfo(k).ID; id != k.ID {
			t.Fatalf("key ID of the %s key: the client computes %s, the agent says %s", k.Role, id, k.ID)
		}
	}
	spec, err := hostile.GoodRoot(tg)
	if err != nil {
		t.Fatal(err)
	}
	// Notary asks for the root key by its certificate's ID.
	certID := hostile.CertKey(tg.Root.Algorithm, tg.RootCert).ID
	body := hostile.SignBody(certID, tg.GUN, "root", hostile.RootJSON(spec))
	if r := hostile.Send(tg.Path, hostile.TypeSign, body); !r.Accepted {
		t.Fatalf("the agent refused a good Root: %s", r)
	}
	// And plain Targets metadata, the other attacks' control.
	body = hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", hostile.TargetsJSON(2, "latest"))
	if r := hostile.Send(tg.Path, hostile.TypeSign, body); !r.Accepted {
		t.Fatalf("the agent refused good Targets: %s", r)
	}
}

// TestVersion1ClientToldWhy: a client of protocol version 1 (PROTOCOL.md
// "Versions") sends a sign request the old way, data in base64 inside the
// JSON. The agent answers in version 1, so that client can read it: code 8
// with a message that says what to do; nothing is signed, and the
// connection goes on for a client that then speaks version 2.
func TestVersion1ClientToldWhy(t *testing.T) {
	_, tg := prepare(t)
	c, err := hostile.Dial(tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v1 := fmt.Appendf(nil, `{"key_id":%q,"gun":%q,"role":"targets","data":%q}`, tg.Targets.ID, tg.GUN, b64(hostile.TargetsJSON(2, "latest")))
	if err := c.Write(hostile.Frame(1, hostile.TypeSign, v1)); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != 1 || !rep.Failed() || rep.Code != hostile.CodeUnsupportedVersion ||
		!strings.Contains(rep.Message, "this agent speaks protocol version 2, the client version 1") ||
		!strings.Contains(rep.Message, "of one release") {
		t.Fatalf("answer to a version-1 sign: version %d, %s", rep.Version, rep)
	}
	if rep, err := c.Do(hostile.TypeStatus, nil); err != nil || !rep.OK(hostile.TypeStatus) || rep.Version != hostile.Version {
		t.Fatalf("the connection did not go on in version 2: %v %v", rep, err)
	}
}

// TestRootAuditLineNamesRoles: the audit line of a Root signature looked
// like any other. Defence (policy branch): it records each role's key IDs.
func TestRootAuditLineNamesRoles(t *testing.T) {
	e, tg := prepare(t)
	spec, err := hostile.GoodRoot(tg)
	if err != nil {
		t.Fatal(err)
	}
	body := hostile.SignBody(tg.Root.ID, tg.GUN, "root", hostile.RootJSON(spec))
	if r := hostile.Send(tg.Path, hostile.TypeSign, body); !r.Accepted {
		t.Fatalf("the agent refused a good Root: %s", r)
	}
	lines := auditLines(t, e.audit)
	last := string(lines[len(lines)-1])
	for role, rs := range spec.Roles {
		for _, k := range rs.Keys {
			if !strings.Contains(last, k.ID) {
				t.Errorf("the audit line of a Root signature does not name the %s key %s:\n%.400s", role, k.ID, last)
			}
		}
	}
}

// TestAuditFileReplaced: after the audit file was replaced (sed -i: a
// copy renamed over it) the agent kept writing to the deleted inode, 5
// signatures and no visible line. Defence (audit branch): the agent
// notices, reopens the path and links the new file to the old chain.
func TestAuditFileReplaced(t *testing.T) {
	e, tg := prepare(t)
	old, err := os.ReadFile(e.audit)
	if err != nil {
		t.Fatal(err)
	}
	tmp := e.audit + ".sed"
	if err := os.WriteFile(tmp, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.audit); err != nil {
		t.Fatal(err)
	}
	body := hostile.SignBody(tg.Targets.ID, tg.GUN, "targets", hostile.TargetsJSON(3, "v1"))
	for i := range 5 {
		if r := hostile.Send(tg.Path, hostile.TypeSign, body); !r.Accepted {
			t.Fatalf("signature %d after the audit file was replaced: %s", i+1, r)
		}
	}
	signed := 0
	for _, l := range auditLines(t, e.audit)[bytes.Count(old, []byte("\n")):] {
		if bytes.Contains(l, []byte(`"op":"sign"`)) && bytes.Contains(l, []byte(`"result":"ok"`)) {
			signed++
		}
	}
	if signed != 5 {
		t.Errorf("5 signatures after the audit file was replaced, %d visible in it", signed)
	}
	checkAuditChain(t, e.audit)
}

// TestAttacks runs every request-level attack of issue 7 and requires the
// refusal the design names. On the branch where this was written, before
// the defences were merged, the attacks whose Defence is not "holds today"
// fail here: that is the attack succeeding. Each subtest names the
// defence that makes it pass:
//   - request/*: strict request decoding (socket branch);
//   - payload/*: byte-canonical payloads (policy branch);
//   - root/*: the whole-Root policy, no askpass configured (policy branch);
//   - role/*: the role and repository binding (holds today; these catch a
//     GUN check loosened to a prefix, `||` turned into `&&` in the targets
//     rule, Timestamp accepted where Snapshot is);
//   - write/*: bounded names (pin branch).
func TestAttacks(t *testing.T) {
	e, tg := prepare(t)
	before := keySummary(t, e.path)
	for _, a := range hostile.Attacks() {
		t.Run(a.Name, func(t *testing.T) {
			r := a.Run(tg)
			if r.Err != nil {
				t.Fatalf("%s: %v", a.What, r.Err)
			}
			if a.Open != "" {
				if !r.Accepted {
					t.Fatalf("%s is refused now (%s): the hole is closed; remove its Open note and SECURITY.md's open row", a.What, r.Reply)
				}
				t.Logf("OPEN: %s: %s", a.What, a.Open)
				return
			}
			if r.Accepted {
				t.Fatalf("ACCEPTED %s (the defence: %s)", a.What, a.Defence)
			}
			if r.Reply.Code != a.WantCode {
				t.Errorf("%s: refused with %s, want code %d (the defence: %s)", a.What, r.Reply, a.WantCode, a.Defence)
			}
			if !strings.Contains(r.Reply.Message, a.WantMessage) {
				t.Errorf("%s: refused with %s, which does not say %q (the defence: %s)", a.What, r.Reply, a.WantMessage, a.Defence)
			}
		})
	}
	if d := diffKeys(before, keySummary(t, e.path)); d != "" {
		t.Errorf("the attacks changed the token:\n%s", d)
	}
	checkAuditChain(t, e.audit)
}

// TestIdleConnectionsClosed: idle connections take a file descriptor and
// a goroutine each; 20,000 of them stopped the agent accepting. Defence
// (socket branch): an idle timeout. Scaled down to 50 here; the benchmark
// BenchmarkFlood runs 1,000.
func TestIdleConnectionsClosed(t *testing.T) {
	e := startAgent(t)
	conns, err := hostile.Idle(e.path, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.CloseAll(conns)
	if _, err := hostile.Ping(e.path); err != nil {
		t.Fatalf("with 50 idle connections a new client got no answer: %v", err)
	}
	waitAllClosed(t, conns, "idle connection")
}

// TestStalledFramesCut: a connection that announces a 16 MiB frame and
// stalls part-way holds what it sent. Defence (socket branch): a frame
// must arrive whole within a deadline, and the buffer goes back to the
// budget. Scaled down to 4 connections with 1 MiB sent each; the
// benchmark BenchmarkFlood runs 40 × 16 MiB.
func TestStalledFramesCut(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 4 MiB")
	}
	e := startAgent(t)
	conns, err := hostile.Stall(e.path, 4, hostile.MaxFrameBytes, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.CloseAll(conns)
	if _, err := hostile.Ping(e.path); err != nil {
		t.Fatalf("with 4 stalled 16 MiB frames a new client got no answer: %v", err)
	}
	waitAllClosed(t, conns, "stalled connection")
}

// TestSlowFrameCut: a client that trickles a frame a byte at a time holds
// a connection as long as it likes. Defence (socket branch): the frame
// deadline counts from the frame's first byte. The trickle lasts about 3 s,
// three times the test agent's deadline.
func TestSlowFrameCut(t *testing.T) {
	e := startAgent(t)
	if r := hostile.SlowFrame(e.path, 50*time.Millisecond, 54); r.Accepted || r.Err != nil {
		t.Fatalf("a frame trickled over 3 s was served in full: %s", r)
	}
}

// TestNewClientNotStarved: with more idle connections than a connection
// cap would allow, a new client is still answered. Holds today (there is
// no cap); it guards the cap the socket branch adds, which must make room
// (close the longest-idle connection, say) rather than refuse or starve.
func TestNewClientNotStarved(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 300 connections")
	}
	e := startAgent(t)
	conns, err := hostile.Idle(e.path, 300)
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.CloseAll(conns)
	if _, err := hostile.Ping(e.path); err != nil {
		t.Fatalf("with 300 idle connections a new client got no answer: %v", err)
	}
}

// TestSlowReaderCut: a client that sends requests and never reads the
// answers leaves the agent blocked writing, holding the connection for
// ever (the slow client of issue 7, reading instead of writing). Defence:
// a write deadline on answers (socket branch; the issue names only the
// read side, so this one may need adding). The wait is 3 s, three times
// the test agent's frame deadline.
func TestSlowReaderCut(t *testing.T) {
	e := startAgent(t)
	const n = 5000 // about 1 MiB of answers, far beyond the socket buffers
	got, err := hostile.SlowReader(e.path, n, 3*testFrameTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if got == n {
		t.Errorf("the agent waited for a client that did not read its answers: all %d answers arrived after %s", n, 3*testFrameTimeout)
	}
}

func waitAllClosed(t *testing.T, conns []*hostile.Conn, what string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Go(func() { errs[i] = c.WaitClosed(closeWait) })
	}
	wg.Wait()
	open := 0
	for _, err := range errs {
		if err != nil {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d %ss were still open after %s (the agent's timeout is %s)", open, len(conns), what, closeWait, testIdleTimeout)
	}
}

// TestPINGuessingThrottled: 141 wrong PINs a second, each answered
// "retries: -1". Defence (pin branch): after 3 wrong PINs in a row each
// try waits twice as long as the last and the error says when the next
// try is accepted; tries left are said only as the token reports them,
// never as -1; the right PIN after the wait unlocks.
func TestPINGuessingThrottled(t *testing.T) {
	e := startAgent(t)
	c, err := hostile.Dial(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.DoJSON(hostile.TypeLock, nil, nil); err != nil {
		t.Fatal(err)
	}
	wrong := make([][]byte, 10)
	for i := range wrong {
		wrong[i] = fmt.Appendf(nil, "99%02d", i)
	}
	replies, err := hostile.GuessPINs(e.path, "", wrong)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range replies {
		if !r.Failed() {
			t.Fatalf("wrong PIN %d unlocked the agent", i)
		}
		if r.Retries != nil && *r.Retries < 0 || minusOne.MatchString(r.Message) {
			t.Errorf("wrong PIN %d: %s (retries %v): never -1, say what the token reports", i, r, derefInt(r.Retries))
		}
		if i >= 3 && !strings.Contains(strings.ToLower(r.Message), "next try") {
			t.Errorf("wrong PIN %d answered %s: after 3 wrong PINs each try must wait, and the error say when the next try is accepted", i, r)
		}
	}
	// Past any wait (the agent's clock, not a sleep): the right PIN unlocks.
	e.skew.Add(int64(24 * time.Hour))
	replies, err = hostile.GuessPINs(e.path, "", [][]byte{[]byte(e.tok.PIN)})
	if err != nil {
		t.Fatal(err)
	}
	if !replies[0].OK(hostile.TypeUnlock) {
		t.Fatalf("the right PIN after the wait: %s", replies[0])
	}
}

// minusOne finds "-1" said as a number of tries ("retries: -1", "-1
// tries"), not inside a date or a label.
var minusOne = regexp.MustCompile(`(retries:? |(^|\s))-1(\s+tr|\)|$)`)

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// maxRootCertsPerKey is the bound the design sets on the root
// certificates certify-root stores per key ("e.g. 100": pin branch).
const maxRootCertsPerKey = 100

// TestCertifyRootBounded: 50 certify-root calls for made-up repositories
// left 50 certificate objects on the token. Defence (pin branch):
// certificates per key are bounded, and each request is audited.
func TestCertifyRootBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 120 certificates")
	}
	e, tg := prepare(t)
	lines := len(auditLines(t, e.audit))
	const n = maxRootCertsPerKey + 20
	made, last, err := hostile.CertifyMadeUp(e.path, tg.Root.ID, "example.com/made-up", n)
	if err != nil {
		t.Fatal(err)
	}
	if made > maxRootCertsPerKey {
		t.Errorf("certify-root stored %d certificates for made-up repositories, want at most %d per key", made, maxRootCertsPerKey)
	}
	if made < n && !strings.Contains(last.Message, "limit") && !strings.Contains(last.Message, "at most") &&
		!strings.Contains(last.Message, strconv.Itoa(maxRootCertsPerKey)) {
		t.Errorf("the refusal %s does not name the limit", last)
	}
	if got := len(auditLines(t, e.audit)) - lines; got < n {
		t.Errorf("%d certify-root requests, %d audit lines", n, got)
	}
}

// maxAuditLine is "a few KiB": no request writes a longer audit line.
const maxAuditLine = 8 << 10

// TestAuditLineBounded: a 4 MiB field wrote a 4 MiB audit line. Defence
// (audit branch): fields truncated with a marker.
func TestAuditLineBounded(t *testing.T) {
	e, tg := prepare(t)
	if r := hostile.BigField(e.path, tg.Targets.ID, 4<<20); r.Accepted || r.Err != nil {
		t.Fatalf("a sign request with a 4 MiB repository name: %s", r)
	}
	for i, line := range auditLines(t, e.audit) {
		if len(line) > maxAuditLine {
			t.Errorf("audit line %d is %d bytes (%.60s…), want at most %d", i+1, len(line), line, maxAuditLine)
		}
	}
	checkAuditChain(t, e.audit)
}

// diffKeys lists the keys only in before (-) or only in after (+), each
// shortened to 100 bytes, or returns "" when the lists are the same.
func diffKeys(before, after []string) string {
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	var b strings.Builder
	for _, s := range before {
		if !in(after, s) {
			fmt.Fprintf(&b, "- %.100s\n", s)
		}
	}
	for _, s := range after {
		if !in(before, s) {
			fmt.Fprintf(&b, "+ %.100s\n", s)
		}
	}
	return b.String()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestBigIntAttacksNotaryRewrites shows the big-integer attacks test
// something: each payload is one that notary's verifier
// (tuf/signed.VerifySignatures: json.Unmarshal into map[string]interface{},
// then json.MarshalCanonical) writes back as other bytes, so a signature
// over it would verify nowhere notary checks it; the agent refuses them
// (TestAttacks).
func TestBigIntAttacksNotaryRewrites(t *testing.T) {
	tg := &hostile.Target{Targets: hostile.KeyInfo{ID: "ab12"}, GUN: testGUN}
	n := 0
	for _, a := range hostile.Attacks() {
		if !strings.HasPrefix(a.Name, "payload/int") && a.Name != "payload/version-above-2^53" {
			continue
		}
		n++
		body, err := a.Body(tg)
		if err != nil {
			t.Fatal(err)
		}
		payload := body[4+int(binary.BigEndian.Uint32(body)):]
		var generic map[string]interface{}
		if err := canonical.Unmarshal(payload, &generic); err != nil {
			t.Fatalf("%s: notary's decoder refuses it: %v", a.Name, err)
		}
		again, err := canonical.MarshalCanonical(generic)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if bytes.Equal(again, payload) {
			t.Errorf("%s: notary's verifier writes %s back unchanged: the attack tests nothing", a.Name, payload)
		}
	}
	if n == 0 {
		t.Fatal("no big-integer attack")
	}
}
