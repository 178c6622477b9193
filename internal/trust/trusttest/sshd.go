package trusttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trust-agent/trust-agent/internal/syncbuf"
)

// Programs of the SSH forwarding helpers.
const (
	SSHDProgram      = "/usr/sbin/sshd" // sshd re-executes itself: it must be named by absolute path
	SSHProgram       = "ssh"
	SSHKeygenProgram = "ssh-keygen"
)

// sshStartTimeout bounds how long StartSSHD waits for sshd to accept
// connections and Forward waits for the forwarded socket to appear.
const sshStartTimeout = 15 * time.Second

// sshdPrivsepDir is the directory OpenSSH (Debian 9.2p1) insists on when
// it runs as root ("Missing privilege separation directory: /run/sshd").
// The Debian package makes it at service start, which a container without
// systemd never does.
const sshdPrivsepDir = "/run/sshd"

// SSHD is an OpenSSH server on a free loopback port, running as the
// current user with its own configuration, a throwaway host key and one
// authorized key (made here), allowing only that user, public-key login
// and Unix-socket forwarding (StreamLocalBindUnlink yes, StreamLocalBindMask
// 0177, so a forwarded socket is mode 0600).
type SSHD struct {
	Addr string // 127.0.0.1:PORT
	Port int
	User string // the current user, the only one allowed to log in

	dir        string
	identity   string // client private key
	knownHosts string
	log        *syncbuf.Buffer
}

// Log returns what sshd has logged so far (LogLevel VERBOSE).
func (s *SSHD) Log() string { return s.log.String() }

// StartSSHD starts sshd on loopback and stops it at t.Cleanup. Without
// openssh-server (or ssh, ssh-keygen) it skips the test, or fails it when
// CI=true.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	requireFile(t, SSHDProgram, "openssh-server")
	RequireProgram(t, SSHProgram)
	keygen := RequireProgram(t, SSHKeygenProgram)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("trusttest: current user: %v", err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(sshdPrivsepDir, 0o755); err != nil {
			t.Fatalf("trusttest: sshd needs %s when run as root: %v", sshdPrivsepDir, err)
		}
	}
	dir := t.TempDir()
	s := &SSHD{
		User:       u.Username,
		dir:        dir,
		identity:   filepath.Join(dir, "id_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
		log:        new(syncbuf.Buffer),
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	for _, k := range []string{hostKey, s.identity} {
		out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "trusttest", "-f", k).CombinedOutput()
		if err != nil {
			t.Fatalf("trusttest: ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(s.identity + ".pub")
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(t, authorized, pub, 0o600)
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}

	var lastErr error
	for range 3 { // the free port may be taken before sshd binds it
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("trusttest: %v", err)
		}
		_, portStr, _ := net.SplitHostPort(addr)
		s.Addr = addr
		s.Port, _ = strconv.Atoi(portStr)
		cfg := strings.Join([]string{
			"Port " + portStr,
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"PidFile none",
			"AuthorizedKeysFile " + authorized,
			"AllowUsers " + s.User,
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"UsePAM no",
			"StrictModes no", // the test's temporary directories are not the user's home
			"AllowStreamLocalForwarding yes",
			"StreamLocalBindUnlink yes",
			"StreamLocalBindMask 0177",
			"X11Forwarding no",
			"LogLevel VERBOSE",
			"",
		}, "\n")
		cfgFile := filepath.Join(dir, "sshd_config")
		writeFile(t, cfgFile, []byte(cfg), 0o600)
		writeFile(t, s.knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, hostPub)), 0o600)
		lastErr = s.start(t, cfgFile)
		if lastErr == nil {
			return s
		}
	}
	t.Fatalf("trusttest: sshd did not start: %v", lastErr)
	return nil
}

func (s *SSHD) start(t testing.TB, cfgFile string) error {
	t.Helper()
	// -D: stay in the foreground, -e: log to stderr.
	cmd := exec.Command(SSHDProgram, "-D", "-e", "-f", cfgFile)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	ctx, cancel := context.WithTimeout(context.Background(), sshStartTimeout)
	defer cancel()
	for {
		c, err := net.Dial("tcp", s.Addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return &startError{err: fmt.Errorf("sshd exited: %s", errString(err)), log: s.Log()}
		case <-ctx.Done():
			stop()
			return &startError{err: ctx.Err(), log: s.Log()}
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("sshd log (last %d lines):\n%s", logTail, tail(s.Log(), logTail))
		}
	})
	return nil
}

// ForwardArgs are the arguments of an ssh client that logs in to s and
// forwards the Unix socket remote (on s's side) to local (on the client's
// side): connections to remote reach local, made by this ssh process. The
// remote socket's directory must exist. The client reads no user
// configuration and trusts only s's host key.
func (s *SSHD) ForwardArgs(remote, local string) []string {
	return []string{
		"-N", "-F", "none",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityFile=" + s.identity,
		"-o", "UserKnownHostsFile=" + s.knownHosts,
		"-o", "GlobalKnownHostsFile=none",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "ExitOnForwardFailure=yes",
		"-p", strconv.Itoa(s.Port),
		"-R", remote + ":" + local,
		s.User + "@127.0.0.1",
	}
}

// Forward runs `ssh -R remote:local` against s (see ForwardArgs), waits
// until sshd has bound remote and stops the client at t.Cleanup.
func (s *SSHD) Forward(t testing.TB, remote, local string) {
	t.Helper()
	ssh := RequireProgram(t, SSHProgram)
	log := new(syncbuf.Buffer)
	cmd := exec.Command(ssh, s.ForwardArgs(remote, local)...)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("trusttest: ssh: %v", err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	if err := WaitForward(remote, exited); err != nil {
		t.Fatalf("trusttest: ssh -R %s:%s: %v\nssh: %s\nsshd log:\n%s", remote, local, err, log.String(), tail(s.Log(), logTail))
	}
}

// WaitForward waits until a socket exists at remote (sshd has bound the
// forwarded socket), or the ssh client exits (exited receives), or
// sshStartTimeout passes.
func WaitForward(remote string, exited <-chan error) error {
	deadline := time.After(sshStartTimeout)
	for {
		if fi, err := os.Lstat(remote); err == nil && fi.Mode().Type() == os.ModeSocket {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("ssh exited before the socket was forwarded: %s", errString(err))
		case <-deadline:
			return fmt.Errorf("no socket at %s after %s", remote, sshStartTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// requireFile is RequireProgram for a program that must be named by its
// absolute path.
func requireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("trusttest: %s is not installed and CI=true: install it (Debian: apt-get install -y %s)", path, pkg)
	}
	t.Skipf("trusttest: %s is not installed; install it (Debian: apt-get install -y %s) to run this test", path, pkg)
}
