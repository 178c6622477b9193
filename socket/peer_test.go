package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// helperEnv makes the test binary, re-executed as another user, dial the
// socket it names instead of running tests.
const helperEnv = "TRUST_AGENT_SOCKET_TEST_DIAL"

// serveHelperEnv makes the test binary, re-executed as another user, listen
// on the socket it names and report what one client sent.
const serveHelperEnv = "TRUST_AGENT_SOCKET_TEST_SERVE"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(dialHelper(path))
	}
	if path := os.Getenv(serveHelperEnv); path != "" {
		os.Exit(serveHelper(path))
	}
	if path := os.Getenv(benchServeEnv); path != "" {
		os.Exit(benchServe(path))
	}
	os.Exit(m.Run())
}

// serveHelper listens at path, says LISTENING, accepts one connection and
// prints how many bytes the client sent before it hung up.
func serveHelper(path string) int {
	l, err := Listen(path)
	if err != nil {
		fmt.Println("LISTEN FAILED:", err)
		return 3
	}
	defer l.Close()
	fmt.Println("LISTENING")
	conn, err := l.Accept()
	if err != nil {
		fmt.Println("ACCEPT FAILED:", err)
		return 4
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	fmt.Printf("RECEIVED %d BYTES (%v)\n", n, err)
	return 0
}

// dialHelper asks the agent at path for its status and prints what happened.
func dialHelper(path string) int {
	c, err := Dial(path)
	if err != nil {
		fmt.Println("DIAL FAILED:", err)
		return 3
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Status(ctx)
	switch {
	case err == nil:
		fmt.Println("SERVED")
		return 4
	case errors.Is(err, agent.ErrDenied):
		fmt.Printf("DENIED uid=%d: %v\n", os.Getuid(), err)
		return 0
	default:
		fmt.Println("OTHER ERROR:", err)
		return 5
	}
}

// needRoot skips a test that needs root, except under CI, where it fails.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this test must run, but it needs %s", strings.Join(missing, ", "))
	}
	t.Skipf("needs %s (set CI to make this a failure)", strings.Join(missing, ", "))
}

// The caller's credentials reach the agent through the request context.
func TestPeerReachesAgent(t *testing.T) {
	fake := new(fakeAgent)
	path, _ := serveFake(t, fake)
	if err := dialT(t, path).Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	peers := fake.calledPeers()
	if len(peers) != 1 {
		t.Fatalf("agent saw %d peers", len(peers))
	}
	p := peers[0]
	if p.UID != os.Getuid() || p.GID != os.Getgid() || p.PID != os.Getpid() {
		t.Errorf("peer %+v, want uid %d gid %d pid %d", p, os.Getuid(), os.Getgid(), os.Getpid())
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if p.Exe != exe {
		t.Errorf("peer exe %q, want %q", p.Exe, exe)
	}
}

// A process of another user that can reach the socket (the modes are opened
// up here on purpose) is still refused, by its credentials, and logged.
func TestPeerOtherUIDRefused(t *testing.T) {
	needRoot(t, "setpriv")
	const nobody = 65534

	// Everything the helper needs must be reachable by nobody: the
	// go-build directory holding the test binary is not, so copy it; and
	// TMPDIR may be a private 0700 directory (with-pcscd.sh makes one), so
	// work directly under /tmp.
	top, err := os.MkdirTemp("/tmp", "trust-agent-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "socket.test")
	copyExecutable(t, bin)
	dir := filepath.Join(top, "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // only the peer check stands in the way now
		t.Fatal(err)
	}
	fake := new(fakeAgent)
	logBuf := serveOn(t, l, fake)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody),
		"--clear-groups", "--", bin, "-test.run=^$")
	cmd.Env = []string{helperEnv + "=" + path, "PATH=/usr/bin:/bin"}
	cmd.Dir = top
	out, err := cmd.CombinedOutput()
	t.Logf("helper: %s", out)
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("DENIED uid=%d", nobody)) {
		t.Fatalf("helper as uid %d was not refused by the peer check: %v", nobody, err)
	}
	if fake.callCount() != 0 {
		t.Fatalf("the agent was called %d times by a refused peer", fake.callCount())
	}
	deadline := time.Now().Add(5 * time.Second)
	want := []string{"refused a connection from another user", fmt.Sprintf("uid=%d", nobody), "exe=" + bin}
	for !containsAll(logBuf.String(), want...) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !containsAll(logBuf.String(), want...) {
		t.Fatalf("refusal not logged with %q:\n%s", want, logBuf)
	}
	// The agent's own user still gets through.
	if _, err := dialT(t, path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A directory another user owns is refused even at 0700: its owner could
// swap the socket.
func TestListenRefusesDirOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(filepath.Join(dir, "agent.sock"))
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("err = %v", err)
	}
}

// The mirror image of TestPeerOtherUIDRefused: an agent run by another
// user (here nobody, in a directory of nobody's, so Listen is content) is
// refused by the client before it sends a byte, since the next bytes could
// be a PIN or a private key.
func TestDialRefusesAgentOfAnotherUser(t *testing.T) {
	needRoot(t, "setpriv")
	const nobody = 65534
	top, err := os.MkdirTemp("/tmp", "trust-agent-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "socket.test")
	copyExecutable(t, bin)
	dir := filepath.Join(top, "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.sock")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody),
		"--clear-groups", "--", bin, "-test.run=^$")
	cmd.Env = []string{serveHelperEnv + "=" + path, "PATH=/usr/bin:/bin"}
	cmd.Dir = top
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for !strings.Contains(out.String(), "LISTENING") {
		select {
		case err := <-done:
			t.Fatalf("helper as uid %d ended before it listened: %v\n%s", nobody, err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}

	c, err := Dial(path)
	if err == nil {
		c.Close()
		t.Fatal("dialled an agent that runs as another user")
	}
	var fe *ForeignAgentError
	if !errors.Is(err, ErrForeignAgent) || !errors.As(err, &fe) || fe.UID != nobody {
		t.Fatalf("err = %v, want a ForeignAgentError for uid %d", err, nobody)
	}
	if !containsAll(err.Error(), "refusing the agent at "+path, fmt.Sprintf("uid %d", nobody), "neither you") {
		t.Errorf("unclear error: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	t.Logf("helper: %s", out.String())
	if !strings.Contains(out.String(), "RECEIVED 0 BYTES") {
		t.Fatalf("the client sent bytes to the other user's agent:\n%s", out.String())
	}
}

// A directory above the socket's that another user owns is refused, even
// at 0755: its owner could rename the path away.
func TestListenRefusesAncestorOfAnotherUser(t *testing.T) {
	needRoot(t)
	top := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(top, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(top, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "run")
	_, err := Listen(filepath.Join(dir, "agent.sock"))
	if err == nil || !containsAll(err.Error(), "socket: directory "+top+",", "above the socket directory "+dir, "belongs to uid 65534") {
		t.Fatalf("err = %v", err)
	}
}
