package socket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/trust-agent/trust-agent/agent"
)

// peerChecked says whether peerOf reports real credentials on this system.
const peerChecked = true

// peerOf asks the kernel who is at the other end of c (SO_PEERCRED: the
// credentials the peer had when it called connect). Exe is read from
// /proc/PID/exe, best effort and for the log only: the PID may have been
// reused by the time we look.
func peerOf(c net.Conn) (agent.Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return agent.Peer{}, errors.New("socket: peer credentials: not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return agent.Peer{}, fmt.Errorf("socket: peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return agent.Peer{}, fmt.Errorf("socket: peer credentials: %w", err)
	}
	if credErr != nil {
		return agent.Peer{}, fmt.Errorf("socket: peer credentials: %w", credErr)
	}
	p := agent.Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID)); err == nil {
		p.Exe = exe
		// ssh -R relays a remote connection through the local ssh
		// client: that client is the peer, the caller is elsewhere.
		if filepath.Base(exe) == "ssh" {
			p.Via = "ssh"
		}
	}
	return p, nil
}
