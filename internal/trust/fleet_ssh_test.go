package trust

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trust-agent/trust-agent/agent"
	"github.com/trust-agent/trust-agent/internal/trust/trusttest"
	"github.com/trust-agent/trust-agent/pkcs11"
	"github.com/trust-agent/trust-agent/pkcs11/softhsmtest"
	"github.com/trust-agent/trust-agent/socket"
)

// auditLog keeps the agent's audit events in memory.
type auditLog struct {
	mu     sync.Mutex
	events []agent.Event
}

func (a *auditLog) Record(ev agent.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, ev)
	return nil
}

func (a *auditLog) Events() []agent.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agent.Event(nil), a.events...)
}

// TestSSHForwardedAgent: the agent's socket forwarded by a real sshd
// (`ssh -R REMOTE:$TRUST_AGENT_SOCK`, as gpg-agent's extra socket) serves
// a client on the far side: it makes a signer's key, adds the signer and
// signs a tag into notary-server, and docker reads the signature. The
// agent's peer check still holds and its audit log names the forwarding
// ssh client as the caller; another user on the far side cannot reach the
// forwarded socket (sshd binds it 0600).
func TestSSHForwardedAgent(t *testing.T) {
	ctx := context.Background()
	sshd := trusttest.StartSSHD(t)
	n := trusttest.StartNotary(t)
	reg := trusttest.StartRegistry(t)
	img := reg.PushRandom(t, "fleet/ssh", "v1")
	dc := trusttest.NewDockerConfig(t, n)
	opts := Options{ConfigDir: dc.Dir, Server: n.URL}

	// The agent, on this side.
	store, err := pkcs11.Open(softhsmtest.Token(t, "1234"))
	if err != nil {
		t.Fatal(err)
	}
	audit := new(auditLog)
	keys := agent.New(agent.Options{Stores: []agent.KeyStore{store}, Audit: audit})
	t.Cleanup(func() { keys.Close() })
	local := filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := socket.Listen(local)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- socket.Serve(sctx, l, keys, socket.ServeOptions{}) }()
	t.Cleanup(func() { cancel(); <-done })

	// The far side: a directory anyone may enter, as /tmp is, so that only
	// the socket's own mode keeps other users out.
	far := trusttest.SharedTempDir(t)
	remote := filepath.Join(far, "agent.sock")
	sshd.Forward(t, remote, local)

	fi, err := os.Stat(remote)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("forwarded socket has mode %o, want 600 (StreamLocalBindMask 0177)", perm)
	}

	// A client on the far side uses the agent as TRUST_AGENT_SOCK=remote.
	client := func() agent.Agent {
		c, err := socket.Dial(remote)
		if err != nil {
			t.Fatalf("dial the forwarded socket: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, pub := generatePub(t, client(), "alice")
	if err := SignerAdd(ctx, SignerAddOptions{Options: opts, Out: io.Discard, Agent: client(), Name: "alice", KeyFiles: []string{pub}, Repos: []string{img.Repo}}); err != nil {
		t.Fatalf("signer add through the forwarded socket: %v", err)
	}
	if err := Sign(ctx, SignOptions{Options: opts, Out: io.Discard, Agent: client(), Refs: []string{img.Ref}}); err != nil {
		t.Fatalf("sign through the forwarded socket: %v", err)
	}
	list, err := client().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 3 { // alice, the root key, the targets key
		t.Fatalf("key list through the forwarded socket: %+v", list)
	}
	inspect := dc.MustDocker(t, "trust", "inspect", "--pretty", img.Ref)
	if !strings.Contains(inspect, img.Hex) || !strings.Contains(inspect, "alice") || !strings.Contains(inspect, alice.ID[:12]) {
		t.Fatalf("docker trust inspect does not show alice's signature:\n%s", inspect)
	}

	// What the agent saw: every request came from the forwarding ssh client,
	// running as this user; that is how an audit line marks a forwarded
	// caller.
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	sshPath, _ = filepath.EvalSymlinks(sshPath)
	signs := 0
	for _, ev := range audit.Events() {
		if ev.Peer == nil {
			t.Fatalf("audit event without a peer: %+v", ev)
		}
		if ev.Peer.UID != os.Getuid() || ev.Peer.Exe != sshPath || ev.Peer.Via != "ssh" {
			t.Fatalf("audit event's peer is uid %d exe %q via %q, want uid %d exe %q via ssh (the ssh client): %+v",
				ev.Peer.UID, ev.Peer.Exe, ev.Peer.Via, os.Getuid(), sshPath, ev)
		}
		if ev.Op == "sign" && ev.Result == "ok" {
			signs++
		}
	}
	if signs == 0 {
		t.Fatalf("no signature in the audit log: %+v", audit.Events())
	}

	// Another user on the far side: the forwarded socket refuses them,
	// though they can list its directory; the same connection as this user
	// succeeds (so the refusal is the socket's mode).
	connect := func(uid int) (string, error) {
		script := `opendir(D, $ARGV[1]) or die "opendir: $!\n"; use IO::Socket::UNIX; IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";`
		args := []string{"perl", "-e", script, remote, far}
		if uid != os.Getuid() {
			args = append([]string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(uid), "--clear-groups"}, args...)
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}
	if out, err := connect(os.Getuid()); err != nil {
		t.Fatalf("this user cannot connect to the forwarded socket: %v: %s", err, out)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: cannot try the forwarded socket as another user")
		return
	}
	const nobody = 65534
	out, err := connect(nobody)
	if err == nil {
		t.Fatalf("user %d connected to the forwarded socket", nobody)
	}
	if !strings.Contains(out, "connect: Permission denied") {
		t.Fatalf("user %d: %v: %s, want Permission denied", nobody, err, out)
	}
}
