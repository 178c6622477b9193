package agent

import "context"

// Peer is the process on the other end of a request, as the socket's peer
// credentials (SO_PEERCRED) report it. The audit log records it.
type Peer struct {
	UID int    `json:"uid"`
	GID int    `json:"gid"`
	PID int    `json:"pid"`
	Exe string `json:"exe,omitempty"` // /proc/PID/exe, best effort
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
