package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// Socket activation, as systemd (and systemd-socket-activate) does it:
// the service manager binds and listens on the socket, starts the agent
// with the listening socket as file descriptor 3, and says so in
// LISTEN_PID (this process) and LISTEN_FDS (how many). The agent then
// serves that socket instead of binding its own; the manager owns the
// socket file, so the agent never removes it.

// listenFDsStart is the first passed descriptor (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// Activated returns the socket the service manager passed, or nil when
// none was passed to this process, for Options.Listener. It unsets the
// LISTEN_* variables so nothing the agent starts inherits them. Call it
// once, early: the descriptor is this process's.
func Activated() (*net.UnixListener, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if fds == "" {
		return nil, nil
	}
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process (a parent that exec'd us would have set our PID)
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if fds != "1" {
		return nil, fmt.Errorf("socket activation passed %s sockets; the agent serves exactly one (ListenStream= once in trust-agent.socket)", fds)
	}
	f := os.NewFile(listenFDsStart, "activation-socket")
	defer f.Close() // FileListener dup'ed it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: descriptor %d is not a listening socket: %w", listenFDsStart, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, errors.New("socket activation: the passed socket is not a Unix stream socket; use ListenStream=%t/trust-agent/agent.sock")
	}
	ul.SetUnlinkOnClose(false) // the service manager's file, not ours
	return ul, nil
}
