package agent

import (
	"fmt"
	"unicode/utf8"
)

// Bounds of an audit line. A client chooses most of what a line holds
// (names, repository, key ID, role, and the error its request caused), so
// each field is cut to a bound, with a marker saying how much was cut, and
// no request writes more than a few KiB however large its fields were.
const (
	// maxAuditLine is the longest line the agent writes; a line still
	// longer after its fields were bounded loses its metadata (saying so).
	maxAuditLine = 8 << 10
	// maxAuditName bounds names: op, key ID, role, repository, the peer's
	// executable, the metadata type, each target name.
	maxAuditName = 256
	// maxAuditText bounds errors and reasons.
	maxAuditText = 1024
	// maxAuditTargetBytes bounds the target names of one line together
	// (policy.go also caps their number at maxAuditedTargets).
	maxAuditTargetBytes = 2048
	// escapeFactor: JSON writes a control character as \u00XX, six bytes
	// for one; fields are bounded that much harder when a line is too long.
	escapeFactor = 6
)

// bounded returns e with every field a client can make long cut to its
// bound. Cutting is idempotent: a bounded event stays as it is.
func (e Event) bounded() Event { return e.boundedTo(1) }

// boundedTo bounds fields to their bound divided by div.
func (e Event) boundedTo(div int) Event {
	name, text := maxAuditName/div, maxAuditText/div
	e.Op = truncate(e.Op, name)
	e.KeyID = truncate(e.KeyID, name)
	e.Role = truncate(e.Role, name)
	e.GUN = truncate(e.GUN, name)
	e.Result = truncate(e.Result, name)
	e.Reason = truncate(e.Reason, text)
	e.Error = truncate(e.Error, text)
	if e.Peer != nil {
		p := *e.Peer
		p.Exe = truncate(p.Exe, name)
		e.Peer = &p
	}
	if e.Facts != nil {
		facts := make(map[string]string, len(e.Facts))
		for k, v := range e.Facts {
			facts[truncate(k, name)] = truncate(v, name)
		}
		e.Facts = facts
	}
	if e.Metadata != nil {
		md := *e.Metadata
		md.Type = truncate(md.Type, name)
		md.Targets = boundNames(md.Targets, name, maxAuditTargetBytes/div)
		e.Metadata = &md
	}
	return e
}

// boundNames cuts each name to max bytes and keeps names while their total
// stays within total, ending with a marker of how many were left out.
func boundNames(names []string, max, total int) []string {
	if names == nil {
		return nil
	}
	out := make([]string, 0, len(names))
	used := 0
	for i, n := range names {
		n = truncate(n, max)
		if used+len(n) > total {
			return append(out, fmt.Sprintf("…[%d more names left out]", len(names)-i))
		}
		used += len(n)
		out = append(out, n)
	}
	return out
}

// truncMarkerRoom is room enough for the marker truncate appends.
const truncMarkerRoom = len("…[truncated 18446744073709551615 bytes]")

// truncate cuts s to at most max bytes (at a UTF-8 boundary), ending it
// with "…[truncated N bytes]".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - truncMarkerRoom
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + fmt.Sprintf("…[truncated %d bytes]", len(s)-keep)
}
