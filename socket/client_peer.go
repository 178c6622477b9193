package socket

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// ErrForeignAgent is returned by Dial when the process listening on the
// socket runs as another user than the caller, root aside.
var ErrForeignAgent = errors.New("socket: the agent runs as another user")

// ForeignAgentError says who listens on a socket Dial refused.
type ForeignAgentError struct {
	Path string
	UID  int    // the agent's (SO_PEERCRED: its credentials when it listened)
	PID  int    // for people reading the message
	Exe  string // best effort, may be empty
}

func (e *ForeignAgentError) Error() string {
	who := fmt.Sprintf("pid %d", e.PID)
	if e.Exe != "" {
		who += " " + e.Exe
	}
	return fmt.Sprintf("socket: refusing the agent at %s: it runs as uid %d (%s), neither you (uid %d) nor root; "+
		"it may be another user's, set up to collect PINs and keys: check TRUST_AGENT_SOCK and the socket's directory",
		e.Path, e.UID, who, os.Geteuid())
}

func (e *ForeignAgentError) Unwrap() error { return ErrForeignAgent }

// checkServer refuses, on Linux, an agent whose UID is neither ours nor
// root's: PINs and private keys go over this connection, so nothing may be
// sent before this check. The directory checks of Listen protect an agent
// that listens; this protects a client pointed (by TRUST_AGENT_SOCK) at a
// socket somebody else made. Where SO_PEERCRED is missing, only the file
// modes protect the client.
func checkServer(conn net.Conn, path string) error {
	if !peerChecked {
		return nil
	}
	p, err := peerOf(conn)
	if err != nil {
		return err
	}
	if p.UID != os.Geteuid() && p.UID != 0 {
		return &ForeignAgentError{Path: path, UID: p.UID, PID: p.PID, Exe: p.Exe}
	}
	return nil
}
