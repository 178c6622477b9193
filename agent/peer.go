package agent

import "context"

// Peer is the process on the other end of a request, as the socket's peer
// credentials (SO_PEERCRED) report it. The audit log records it.
type Peer struct {
	UID int    `json:"uid"`
	GID int    `json:"gid"`
	PID int    `json:"pid"`
	Exe string `json:"exe,omitempty"` // /proc/PID/exe, best effort
	// Via is "ssh" when the peer is an ssh client relaying a connection
	// forwarded from another machine (ssh -R REMOTE:$TRUST_AGENT_SOCK):
	// the request comes from a process over there, which the audit line
	// should not pass off as a local one. Best effort, like Exe.
	Via string `json:"via,omitempty"`
}

type peerKey struct{}

// WithPeer returns ctx carrying p; the socket server sets it per connection.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the peer ctx carries, if any. A request made in-process
// (no socket) has none.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}
