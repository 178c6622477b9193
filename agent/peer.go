package agent

import "context"

// Peer is the process at the other end of the socket, as the kernel reports
// it (SO_PEERCRED on Linux). The socket server puts it into the context of
// every request so the audit log can name who asked.
type Peer struct {
	UID int    `json:"uid"`
	GID int    `json:"gid"`
	PID int    `json:"pid"`
	Exe string `json:"exe,omitempty"` // from /proc/PID/exe, best effort; empty when unknown
}

type peerKey struct{}

// WithPeer returns a copy of ctx carrying p.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the Peer WithPeer stored in ctx, if any.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}
